/**
 * `npm start`'s command, read from package.json: `exec [env K=V ...] node <args>`. The script `exec`s node so npm's
 * SIGTERM reaches it; `env` sets variables the process needs from its start (glibc reads MALLOC_ARENA_MAX then).
 * The packaging test checks the Dockerfile, systemd unit and README against it; the benchmarks start the service
 * with it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface StartCommand {
  /** `K=V` words `env` sets, in order. */
  readonly env: readonly string[];
  /** `node` and its arguments. */
  readonly node: readonly string[];
}

export function parseStartScript(script: string): StartCommand {
  const words = script.replace(/^exec /, "").split(" ");
  const at = words.indexOf("node");
  return { env: words[0] === "env" ? words.slice(1, at) : [], node: words.slice(at) };
}

export function startCommand(root: string): StartCommand {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: { start: string } };
  return parseStartScript(pkg.scripts.start);
}

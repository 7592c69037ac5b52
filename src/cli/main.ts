/**
 * Command-line tools. `transform` prints what the service would publish for event files, with no NATS;
 * `replay` sends tracking logs to a running service (or transforms them offline), resumably;
 * `inspect` prints the service's streams and consumers (finds the embedded nats-server by itself).
 */
import { runInspect } from "./inspect-command.js";
import { runReplay } from "./replay/replay-command.js";
import { REPLAY_USAGE } from "./replay/replay-options.js";
import { runTransform } from "./transform-command.js";

const USAGE = `Usage:
  npm run cli -- transform --backend xapi|caliper [--lms-root-url URL] [--transformer-version V]
                           [--identities FILE.csv] [--courses FILE.csv] FILE... (- for stdin; one event per file or per line)
  npm run cli -- inspect [--nats-url URL]
${REPLAY_USAGE}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "transform":
      return runTransform(rest, process.stdout, process.stderr);
    case "replay":
      return runReplay(rest, { out: process.stdout, err: process.stderr, env: process.env });
    case "inspect":
      return runInspect(rest, process.stdout, process.stderr);
    default:
      process.stderr.write(USAGE);
      return command === "--help" || command === "-h" ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = 2;
  },
);

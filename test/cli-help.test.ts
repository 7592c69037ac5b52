/**
 * `--help` for every command and subcommand, run as users run the CLI (a child process): exit 0, the help on
 * stdout, every flag the command's parser accepts listed (the options objects come from the command modules, so a
 * flag added without help fails here), and the environment variables it reads. A flag of another subcommand is a
 * usage error, not silently ignored.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { FAILED_COMMANDS } from "../src/cli/failed-command.js";
import { IMPORT_COMMANDS } from "../src/cli/import-command.js";
import { INSPECT_COMMAND } from "../src/cli/inspect-command.js";
import { LEARNERS_COMMANDS } from "../src/cli/learners-command.js";
import { MAPPINGS_COMMANDS } from "../src/cli/mappings-command.js";
import { RECONCILE_COMMAND } from "../src/cli/reconcile-command.js";
import { REJECTED_COMMANDS } from "../src/cli/rejected-command.js";
import { REPLAY_COMMAND } from "../src/cli/replay/replay-options.js";
import { ROUTERS_COMMANDS } from "../src/cli/routers-command.js";
import { STATUS_COMMAND } from "../src/cli/status-command.js";
import { TRANSFORM_COMMAND } from "../src/cli/transform-command.js";
import { runCli } from "./support/entrypoints.js";

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args, { ...process.env, EVENT_ROUTING_TOKEN: "", EVENT_ROUTING_URL: "http://127.0.0.1:1" });
}

type Options = Record<string, { type: string; short?: string }>;

const cases: Array<{ argv: string[]; options: Options; env: string[] }> = [
  { argv: ["transform"], options: TRANSFORM_COMMAND.options, env: ["IDENTITY_HMAC_SECRET", "LMS_ROOT_URL"] },
  { argv: ["inspect"], options: INSPECT_COMMAND.options, env: ["NATS_URL", "DATA_DIR"] },
  { argv: ["status"], options: STATUS_COMMAND.options, env: ["EVENT_ROUTING_URL", "EVENT_ROUTING_TOKEN"] },
  { argv: ["reconcile"], options: RECONCILE_COMMAND.options, env: ["EVENT_ROUTING_URL", "EVENT_ROUTING_TOKEN"] },
  ...Object.entries(ROUTERS_COMMANDS).map(([sub, c]) => ({
    argv: ["routers", sub],
    options: c.options as Options,
    env: ["EVENT_ROUTING_URL", "EVENT_ROUTING_TOKEN", ...(sub === "create" ? ["EVENT_ROUTING_ROUTER_PASSWORD"] : [])],
  })),
  ...Object.entries(MAPPINGS_COMMANDS).map(([sub, c]) => ({
    argv: ["mappings", sub],
    options: c.options as Options,
    env: ["EVENT_ROUTING_URL", "EVENT_ROUTING_TOKEN"],
  })),
  ...Object.entries(FAILED_COMMANDS).map(([sub, c]) => ({
    argv: ["failed", sub],
    options: c.options as Options,
    env: ["EVENT_ROUTING_URL", "EVENT_ROUTING_TOKEN"],
  })),
  ...Object.entries(REJECTED_COMMANDS).map(([sub, c]) => ({
    argv: ["rejected", sub],
    options: c.options as Options,
    env: ["EVENT_ROUTING_URL", "EVENT_ROUTING_TOKEN"],
  })),
  ...Object.entries(LEARNERS_COMMANDS).map(([sub, c]) => ({
    argv: ["learners", sub],
    options: c.options as Options,
    env: ["EVENT_ROUTING_URL", "EVENT_ROUTING_TOKEN"],
  })),
  { argv: ["replay"], options: REPLAY_COMMAND.options, env: ["EVENT_ROUTING_URL", "EVENT_ROUTING_TOKEN", "XDG_STATE_HOME"] },
  ...Object.entries(IMPORT_COMMANDS).map(([kind, c]) => ({
    argv: [kind, "import"],
    options: c.options as Options,
    env: ["EVENT_ROUTING_URL", "EVENT_ROUTING_TOKEN"],
  })),
];

test("every command and subcommand answers --help (and -h) with exit 0, its flags and its environment on stdout", async () => {
  assert.ok(cases.length >= 16);
  for (const c of cases) {
    // -h for a few (the same check; each run is a process start on a loaded machine).
    for (const flag of c.argv[0] === "routers" && c.argv[1] === "create" ? ["--help", "-h"] : ["--help"]) {
      const r = await cli([...c.argv, flag]);
      const what = `${c.argv.join(" ")} ${flag}`;
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage:\\n  event-routing ${c.argv.join(" ")}`), what);
      for (const [name, o] of Object.entries(c.options)) {
        assert.ok(r.stdout.includes(`--${name}`), `${what} lists --${name}`);
        if (o.short) assert.ok(r.stdout.includes(`-${o.short}, --${name}`), `${what} lists -${o.short}`);
      }
      assert.match(r.stdout, /^Environment:$/m, what);
      for (const v of c.env) assert.ok(r.stdout.includes(v), `${what} names ${v}`);
    }
  }
});

test("the groups' --help and the top-level --help answer with exit 0 on stdout", async () => {
  for (const group of ["routers", "mappings", "failed", "rejected"]) {
    const r = await cli([group, "--help"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`event-routing ${group} list`));
  }
  const top = await cli(["--help"]);
  assert.equal(top.code, 0);
  for (const c of cases) assert.ok(top.stdout.includes(`event-routing ${c.argv.join(" ")}`), c.argv.join(" "));
  const wrong = await cli(["no-such-command"]);
  assert.equal(wrong.code, 1);
  assert.equal(wrong.stdout, "");
  assert.match(wrong.stderr, /^Usage: event-routing COMMAND/);
});

test("a flag of another subcommand is a usage error (exit 1, one line naming it)", async () => {
  const r = await cli(["routers", "list", "--yes"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--yes/);
  const f = await cli(["failed", "list", "--all"]);
  assert.equal(f.code, 1);
  assert.match(f.stderr, /--all/);
});

test("one CLI form in the docs: npx event-routing (event-routing in the container), npm run cli only where the script is listed", () => {
  const docs = [
    "README.md",
    "deploy/README.md",
    ...readdirSync("docs")
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];
  for (const doc of docs) {
    const lines = readFileSync(doc, "utf8").split("\n");
    // The README's npm-scripts table documents the `cli` script itself.
    const stray = lines.filter((l) => l.includes("npm run cli") && !l.startsWith("| `npm run cli -- <command>` |"));
    assert.deepEqual(stray, [], `${doc} says npx event-routing <command>`);
  }
  assert.match(readFileSync("README.md", "utf8"), /^\| `npm run cli -- <command>` \|/m, "the scripts table lists the cli script");
});

test("the README's Quick start reads without a trap: its sample files are in the repository, its tokens long enough", () => {
  const readme = readFileSync("README.md", "utf8");
  const quick = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("\n## ", readme.indexOf("## Quick start") + 1));
  const samples = [...quick.matchAll(/json_string < ([\w./-]+)/g)].map((m) => m[1]!);
  assert.ok(samples.length >= 2);
  for (const f of samples) assert.ok(existsSync(f), `${f} is in the repository (not a path beside it)`);
  assert.match(quick, /generated-tokens\.env/, "where generated tokens are when stdout is not a terminal");
  assert.match(quick, /at least 24 characters/);
  assert.match(quick, /npx event-routing status/);
});

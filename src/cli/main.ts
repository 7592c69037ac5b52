#!/usr/bin/env node
/**
 * `event-routing <command>` (the package's bin: this file, built into dist/cli/main.js; `npm run cli --` runs the
 * sources with tsx in a development install, else the build). Offline tools: `transform` prints what the service would publish for event files,
 * with no NATS; `inspect` prints the service's streams and consumers (finds the embedded nats-server by itself).
 * `replay` sends tracking logs to a running service (or transforms them offline), resumably.
 * Operator commands talk to a running service over gRPC (EVENT_ROUTING_URL, EVENT_ROUTING_TOKEN; remote.ts has
 * the exit codes): status, routers, reconcile, mappings, failed, rejected, identities, courses, learners.
 */
import { runFailed, FAILED_USAGE } from "./failed-command.js";
import { EXIT_CODES, PROGRAM } from "./help.js";
import { IMPORT_USAGE, runImport } from "./import-command.js";
import { INSPECT_COMMAND, runInspect } from "./inspect-command.js";
import { LEARNERS_USAGE, runLearners } from "./learners-command.js";
import { MAPPINGS_USAGE, runMappings } from "./mappings-command.js";
import { runReplay } from "./replay/replay-command.js";
import { REPLAY_COMMAND } from "./replay/replay-options.js";
import { REJECTED_USAGE, runRejected } from "./rejected-command.js";
import { RECONCILE_COMMAND, runReconcile } from "./reconcile-command.js";
import { EXIT } from "./exit-codes.js";
import type { Io } from "./remote.js";
import { ROUTERS_USAGE, runRouters } from "./routers-command.js";
import { runStatus, STATUS_COMMAND } from "./status-command.js";
import { runTransform, TRANSFORM_COMMAND } from "./transform-command.js";

const USAGE = `Usage: ${PROGRAM} COMMAND [options]     (${PROGRAM} COMMAND [SUBCOMMAND] --help: its flags and environment)

Offline (no service):
  ${PROGRAM} ${TRANSFORM_COMMAND.help.synopsis[0]}
  ${PROGRAM} ${INSPECT_COMMAND.help.synopsis[0]}
Tracking logs into a running service (or offline):
  ${PROGRAM} ${REPLAY_COMMAND.help.synopsis[0]}
Operator commands (a running service: EVENT_ROUTING_URL, default http://127.0.0.1:8080, and EVENT_ROUTING_TOKEN,
an admin token; or --url / --token). Tables by default, --json for scripts.
  ${PROGRAM} ${STATUS_COMMAND.help.synopsis[0]}
${ROUTERS_USAGE}  ${PROGRAM} ${RECONCILE_COMMAND.help.synopsis[0]}
${MAPPINGS_USAGE}${FAILED_USAGE}${REJECTED_USAGE}${IMPORT_USAGE}${LEARNERS_USAGE}
${EXIT_CODES}
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const io: Io = { out: process.stdout, err: process.stderr, env: process.env, stdin: process.stdin };
  switch (command) {
    case "transform":
      return runTransform(rest, process.stdout, process.stderr);
    case "replay":
      return runReplay(rest, { out: process.stdout, err: process.stderr, env: process.env });
    case "inspect":
      return runInspect(rest, process.stdout, process.stderr);
    case "status":
      return runStatus(rest, io);
    case "routers":
      return runRouters(rest, io);
    case "reconcile":
      return runReconcile(rest, io);
    case "mappings":
      return runMappings(rest, io);
    case "failed":
      return runFailed(rest, io);
    case "rejected":
      return runRejected(rest, io);
    case "learners":
      return runLearners(rest, io);
    case "identities":
    case "courses":
      return runImport(command, rest, io);
    default: {
      // Asked for: the answer, on stdout (pipes into less or grep). A wrong command: the usage is the error.
      const asked = command === "--help" || command === "-h" || command === "help";
      (asked ? process.stdout : process.stderr).write(USAGE);
      return asked ? EXIT.ok : EXIT.usage;
    }
  }
}

// The reader went away (`| head`, a closed pager): stop quietly, as `cat` does, instead of an EPIPE stack. Exit 0:
// what was read is what was asked for, and `set -o pipefail` scripts should not fail on it.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(EXIT.ok);
    throw e;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // parseArgs errors (unknown flag, missing value) are usage errors; anything else is a bug.
    const usage = (e as { code?: string })?.code?.startsWith("ERR_PARSE_ARGS") === true;
    process.stderr.write(`${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = usage ? EXIT.usage : EXIT.other;
  },
);

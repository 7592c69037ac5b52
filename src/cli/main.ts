/**
 * Offline tools. `transform` prints what the service would publish for event files, with no NATS;
 * `inspect` prints the service's streams and consumers (finds the embedded nats-server by itself).
 */
import { runInspect } from "./inspect-command.js";
import { runTransform } from "./transform-command.js";

const USAGE = `Usage:
  npm run cli -- transform --backend xapi|caliper [--lms-root-url URL] [--transformer-version V]
                           [--identities FILE.csv] [--courses FILE.csv] FILE... (- for stdin)
  npm run cli -- inspect [--nats-url URL]
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "transform":
      return runTransform(rest, process.stdout, process.stderr);
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

/**
 * The service and the operator CLI as child processes, the way the tests start them. scripts/test.sh builds the
 * esbuild bundle once (`npm run build`, the production artifact that `npm start` and the image run) and sets
 * ER_DIST_BUILT=1: each start then costs about a second of CPU instead of tsx's three (loading some two hundred
 * TypeScript modules), which is what lets the suite run on two Node versions within CI's budget. A test file run
 * alone, without the bundle, starts src/ under tsx, so an edit is tested without a build.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const exec = promisify(execFile);

const repo = fileURLToPath(new URL("../..", import.meta.url));
const bundled = process.env["ER_DIST_BUILT"] === "1";

/** Node arguments that start the service (append the service's own arguments). */
export function serviceArgs(): string[] {
  return bundled ? ["--enable-source-maps", `${repo}dist/main.js`] : ["--import", "tsx", `${repo}src/main.ts`];
}

/** Node arguments that start the operator CLI, without Node's experimental-feature warnings. */
export function cliArgs(): string[] {
  return bundled
    ? ["--no-warnings", "--enable-source-maps", `${repo}dist/cli/main.js`]
    : ["--no-warnings", "--import", "tsx", `${repo}src/cli/main.ts`];
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI as an operator does, with exactly `env`; resolves with the exit code and output, never throws. */
export async function runCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [...cliArgs(), ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as CliRun;
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

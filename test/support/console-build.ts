/**
 * Builds the console into dist/console/ once per test process (the same `npm run build:console` that
 * `npm run build` runs), so a console test run alone never serves stale or missing assets.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
let built = false;

export function buildConsole(): void {
  if (built) return;
  execFileSync("npm", ["run", "--silent", "build:console"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  built = true;
}

/**
 * Builds the console into dist/console/ once per test process (the same `npm run build:console` that
 * `npm run build` runs), so a console test run alone never serves stale or missing assets. scripts/test.sh builds
 * them before the suite and sets ER_CONSOLE_BUILT, so files running in parallel never rewrite assets being served.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
let built = false;

export function buildConsole(): void {
  if (built || process.env["ER_CONSOLE_BUILT"] === "1") return;
  execFileSync("npm", ["run", "--silent", "build:console"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  built = true;
}

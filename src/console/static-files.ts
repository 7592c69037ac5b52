/**
 * The console's built assets (dist/console/, made by `npm run build:console`), read once at start-up and served
 * from memory: a handful of small files, so no file-system access (or path traversal) per request. Each answer
 * carries its content type, `nosniff`, and a Content-Security-Policy that allows only this origin: scripts,
 * styles and RPCs (connect-src) all come from the console port itself, nothing inline, nothing from a CDN.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface StaticFile {
  readonly body: Buffer;
  readonly contentType: string;
}

/** No inline script or style (uPlot sets element.style through the CSSOM, which CSP allows), no framing. */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/** Headers on every console answer, assets and errors alike. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/**
 * dist/console/ under the package root: found by walking up from this module, which is src/console/ when run
 * with tsx and dist/ when bundled, to the directory holding package.json.
 */
export function defaultAssetsDir(from: string = fileURLToPath(import.meta.url)): string {
  let dir = path.dirname(from);
  while (!existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return path.join(dir, "dist", "console");
}

export class ConsoleAssetsMissingError extends Error {
  override name = "ConsoleAssetsMissingError";
}

/** Every file under dir, keyed by its URL path ("/index.html", "/main.js"). */
export function loadStaticFiles(dir: string): Map<string, StaticFile> {
  if (!existsSync(path.join(dir, "index.html"))) {
    throw new ConsoleAssetsMissingError(`console assets not found in ${dir}: run "npm run build" (CONSOLE_PORT is set)`);
  }
  const files = new Map<string, StaticFile>();
  const walk = (sub: string): void => {
    for (const name of readdirSync(path.join(dir, sub))) {
      const rel = path.posix.join(sub, name);
      const full = path.join(dir, rel);
      if (statSync(full).isDirectory()) walk(rel);
      else files.set(`/${rel}`, { body: readFileSync(full), contentType: CONTENT_TYPES[path.extname(name)] ?? "application/octet-stream" });
    }
  };
  walk("");
  return files;
}

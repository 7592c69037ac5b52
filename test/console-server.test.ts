/**
 * The console port over plain HTTP: assets with their content types and the strict CSP, nothing outside the
 * built files (no traversal, no directory listing, only GET/HEAD), the same RPCs and auth as the main port on
 * the same origin, and no console at all when CONSOLE_PORT is unset.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import https from "node:https";
import { promisify } from "node:util";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { ConsoleAssetsMissingError, CONSOLE_CSP, defaultAssetsDir, loadStaticFiles } from "../src/console/static-files.js";
import { buildConsole } from "./support/console-build.js";
import { makeTlsFiles } from "./support/tls-files.js";
import { ADMIN_TOKEN, EMIT_TOKEN, startServiceUnderTest, type ServiceUnderTest } from "./support/service-under-test.js";

let sut: ServiceUnderTest;
let base: string;

before(async () => {
  buildConsole();
  sut = await startServiceUnderTest({ CONSOLE_PORT: "0" });
  base = `http://127.0.0.1:${sut.service.consolePort}`;
});

after(async () => {
  await sut?.close();
});

test("the page, script and stylesheet are served with their content types, the CSP and nosniff", async () => {
  for (const [p, type] of [
    ["/", "text/html; charset=utf-8"],
    ["/index.html", "text/html; charset=utf-8"],
    ["/main.js", "text/javascript; charset=utf-8"],
    ["/main.css", "text/css; charset=utf-8"],
    ["/console-config.json", "application/json; charset=utf-8"],
  ] as const) {
    const res = await fetch(base + p);
    assert.equal(res.status, 200, p);
    assert.equal(res.headers.get("content-type"), type, p);
    assert.equal(res.headers.get("content-security-policy"), CONSOLE_CSP, p);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", p);
    assert.equal(res.headers.get("set-cookie"), null, p);
    await res.arrayBuffer();
  }
  assert.match(CONSOLE_CSP, /default-src 'self'/);
  assert.match(CONSOLE_CSP, /connect-src 'self'/);
  assert.doesNotMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval|https?:/);
  const html = await (await fetch(base)).text();
  assert.doesNotMatch(html, /<script>|<style|style=|https?:\/\//, "no inline script or style, nothing from another origin");
  assert.deepEqual(await (await fetch(`${base}/console-config.json`)).json(), { natsPrefix: "eventrouting" });
});

test("only the built files: unknown paths, traversal and other methods are refused", async () => {
  for (const p of ["/nope.js", "/../package.json", "/%2e%2e/package.json", "/src/config.ts", "/dist/console/main.js"]) {
    const res = await fetch(base + p);
    assert.equal(res.status, 404, p);
    assert.equal(res.headers.get("content-security-policy"), CONSOLE_CSP, p);
    await res.arrayBuffer();
  }
  const put = await fetch(`${base}/index.html`, { method: "PUT", body: "x" });
  assert.equal(put.status, 405);
  const head = await fetch(`${base}/main.js`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal((await head.arrayBuffer()).byteLength, 0);
});

test("the RPCs answer on the console's origin with the same auth: admin allowed, emit token PermissionDenied", async () => {
  const call = (token: string) =>
    fetch(`${base}/eventrouting.v1.RouterAdminService/ListRouters`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: "{}",
    });
  const ok = await call(ADMIN_TOKEN);
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), {});
  const denied = await call(EMIT_TOKEN);
  assert.equal(((await denied.json()) as { code: string }).code, "permission_denied");
  const none = await call("nope");
  assert.equal(((await none.json()) as { code: string }).code, "unauthenticated");
});

test("no console when CONSOLE_PORT is unset; missing assets stop start-up with a message naming the fix", async () => {
  assert.equal(sut.service.consolePort !== undefined, true);
  const plain = await startServiceUnderTest();
  try {
    assert.equal(plain.service.consolePort, undefined);
  } finally {
    await plain.close();
  }
  const empty = mkdtempSync(path.join(tmpdir(), "console-assets-"));
  assert.throws(
    () => loadStaticFiles(empty),
    (e: unknown) => e instanceof ConsoleAssetsMissingError && /npm run build/.test(e.message),
  );
  writeFileSync(path.join(empty, "index.html"), "<!doctype html>");
  assert.deepEqual([...loadStaticFiles(empty).keys()], ["/index.html"]);
  assert.equal(defaultAssetsDir(), path.resolve(import.meta.dirname, "..", "dist", "console"));
});

test("the test preflight names a missing chromium with its Debian package", async () => {
  const err = await promisify(execFile)("bash", ["scripts/preflight.sh"], {
    cwd: path.resolve(import.meta.dirname, ".."),
    env: { ...process.env, CHROMIUM_BIN: "/nonexistent/chromium" },
  }).then(
    () => assert.fail("preflight passed without chromium"),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(err.code, 1);
  assert.match(err.stderr, /chromium: \/nonexistent\/chromium is not an executable \(Debian: apt-get install -y chromium/);
});

test("with TLS_CERT_FILE the console port serves TLS too (the token never crosses in cleartext)", async () => {
  const tls = makeTlsFiles();
  const secure = await startServiceUnderTest({ CONSOLE_PORT: "0", TLS_CERT_FILE: tls.certFile, TLS_KEY_FILE: tls.keyFile });
  try {
    const port = secure.service.consolePort!;
    const got = await new Promise<{ status: number; csp: string | undefined }>((resolve, reject) => {
      https
        .get({ host: "127.0.0.1", port, path: "/", ca: readFileSync(tls.caFile), servername: "localhost" }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, csp: res.headers["content-security-policy"] as string | undefined }));
        })
        .on("error", reject);
    });
    assert.deepEqual(got, { status: 200, csp: CONSOLE_CSP });
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`), "cleartext is refused");
  } finally {
    await secure.close();
  }
});

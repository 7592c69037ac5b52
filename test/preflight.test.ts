/**
 * Self-contained tests: the suite's preflight names every missing prerequisite in one message (no ENOENT stacks),
 * and `npm run fixtures` verifies ERB's fixtures against the committed checksums and downloads them with the
 * upstream layout. The real download (GitHub) cannot be reached from here: a local HTTP server with the same
 * URL layout, serving the local copy, stands in for it.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { ERB_FIXTURES_DIR } from "./support/erb-fixtures.js";

const execFileP = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const merged = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete merged[k];
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { cwd: REPO, env: merged, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as Run;
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const preflight = (env: Record<string, string | undefined> = {}) => run("bash", ["scripts/preflight.sh"], env);
const fixtures = (args: string[], env: Record<string, string | undefined> = {}) =>
  run(process.execPath, ["--import", "tsx", "scripts/fixtures.ts", ...args], env);

/** One message, not a stack trace from a test that tripped over the missing piece. */
function assertOneMessage(r: Run): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^The test suite cannot run: \d+ prerequisite\(s\) missing\./);
  assert.doesNotMatch(r.stderr, /ENOENT|\n\s+at /);
}

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), "er-preflight-"));
});
after(() => rmSync(work, { recursive: true, force: true }));

describe("preflight", () => {
  test("with everything installed it passes and prints the verified fixtures directory", async () => {
    const r = await preflight();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), resolve(ERB_FIXTURES_DIR));
  });

  test("missing nats-server and redis-server are named together, with the Debian package", async () => {
    const r = await preflight({ NATS_SERVER_BIN: "/nonexistent/nats-server", REDIS_SERVER_BIN: "/nonexistent/redis-server" });
    assertOneMessage(r);
    assert.match(r.stderr, /nats-server: NATS_SERVER_BIN=\/nonexistent\/nats-server is not an executable/);
    assert.match(r.stderr, /redis-server: .*apt-get install -y redis-server/);
  });

  test("a PATH without openssl names openssl", async () => {
    // Only what the preflight itself runs; nats-server is still found in /usr/sbin as the harness finds it.
    const bin = join(work, "bin");
    mkdirSync(bin);
    for (const tool of ["bash", "sed", "rm", "dirname"]) {
      const { stdout } = await run("bash", ["-c", `command -v ${tool}`]);
      symlinkSync(stdout.trim(), join(bin, tool));
    }
    symlinkSync(process.execPath, join(bin, "node"));
    const r = await preflight({ PATH: bin });
    assertOneMessage(r);
    assert.match(r.stderr, /openssl: not on PATH/);
  });

  test("a fixtures copy with a changed and a missing file is refused, naming both, with the way to get them", async () => {
    const copy = join(work, "fixtures-bad");
    cpSync(ERB_FIXTURES_DIR, copy, { recursive: true });
    appendFileSync(join(copy, "xapi/load_video.json"), " ");
    unlinkSync(join(copy, "raw/play_video.json"));
    const r = await preflight({ ERB_FIXTURES_DIR: copy });
    assertOneMessage(r);
    assert.match(r.stderr, /ERB fixtures: .* \(2 files\)/);
    assert.match(r.stderr, /different: xapi\/load_video\.json/);
    assert.match(r.stderr, /missing: raw\/play_video\.json/);
    assert.match(r.stderr, /npm run fixtures/);
  });

  test("scripts/test.sh stops at the preflight, before any other step", async () => {
    const r = await run("bash", ["scripts/test.sh"], { REDIS_SERVER_BIN: "/nonexistent/redis-server" });
    assertOneMessage(r);
    assert.doesNotMatch(r.stdout, /== /);
  });
});

describe("npm run fixtures", () => {
  test("--verify accepts the local copy the manifest was made from", async () => {
    const r = await fixtures(["--verify", ERB_FIXTURES_DIR]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("the manifest covers every file of the local copy: raw events, xAPI and Caliper expectations, tracking.log", () => {
    const paths = readFileSync(join(REPO, "scripts/erb-fixtures.sha256"), "utf8")
      .split("\n")
      .filter((l) => /^[0-9a-f]{64} {2}/.test(l))
      .map((l) => l.slice(66));
    for (const dir of ["raw/", "xapi/", "caliper/"]) assert.ok(paths.filter((p) => p.startsWith(dir)).length > 30, dir);
    assert.ok(paths.includes("tracking.log"));
  });

  describe("download, from a server with the upstream layout", () => {
    const upstream: Array<[string, string]> = [
      ["/event_routing_backends/processors/tests/fixtures/current/", "raw/"],
      ["/event_routing_backends/processors/xapi/tests/fixtures/expected/", "xapi/"],
      ["/event_routing_backends/processors/caliper/tests/fixtures/expected/", "caliper/"],
      ["/event_routing_backends/management/commands/tests/fixtures/tracking.log", "tracking.log"],
    ];
    let tampered: string | undefined;
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      const match = upstream.find(([prefix]) => path.startsWith(prefix));
      const local = match ? join(ERB_FIXTURES_DIR, match[1] + path.slice(match[0].length)) : undefined;
      if (!local || !existsSync(local)) return res.writeHead(404).end();
      const body = readFileSync(local);
      res.writeHead(200).end(path.endsWith(tampered ?? "\0") ? Buffer.concat([body, Buffer.from(" ")]) : body);
    });
    let baseUrl: string;
    before(async () => {
      await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => server.close());

    test("every file is fetched by its upstream path, checked, and the result verifies", async () => {
      const to = join(work, "downloaded");
      const r = await fixtures(["--download", to], { ERB_FIXTURES_BASE_URL: baseUrl });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(requests, 168);
      assert.equal((await fixtures(["--verify", to])).code, 0);
    });

    test("a file whose checksum differs fails the download, naming it, and leaves no directory behind", async () => {
      tampered = "/showanswer.json";
      const to = join(work, "downloaded-bad");
      const r = await fixtures(["--download", to], { ERB_FIXTURES_BASE_URL: baseUrl });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /could not fetch 3 fixture file\(s\)/); // raw/, xapi/ and caliper/showanswer.json
      assert.match(r.stderr, /showanswer\.json .*checksum differs/);
      assert.equal(existsSync(to), false);
    });
  });
});

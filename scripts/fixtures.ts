/**
 * `npm run fixtures`: ERB's fixtures for the golden tests, checked against scripts/erb-fixtures.sha256.
 *
 * The fixtures are Open edX event-routing-backends' own test data (AGPL-3.0), so they are not copied into this
 * repository: they are read in place. Where they come from, in order:
 *   1. ERB_FIXTURES_DIR, when set (verified, never downloaded into);
 *   2. ../shared/reference/erb-fixtures beside the repository, when present (verified);
 *   3. .fixtures/erb-fixtures (verified; downloaded first when missing or not matching).
 * The download takes each file from the public repository at the pinned commit (one HTTPS GET per file, no
 * archive to unpack) and keeps it only if its SHA-256 matches the manifest; files are written to a temp dir and
 * moved into place at the end, so a failed download never leaves a half-filled directory.
 * It prints the directory to use, which scripts/test.sh passes to the tests as ERB_FIXTURES_DIR.
 *
 *   npm run fixtures                       ensure the fixtures (the order above)
 *   npm run fixtures -- --check            find and verify as above, never download (the test preflight)
 *   npm run fixtures -- --verify DIR       verify DIR only (exit 1 naming every missing or different file)
 *   npm run fixtures -- --download DIR     download into DIR, whatever exists elsewhere
 *   npm run fixtures -- --manifest DIR     rewrite the manifest from DIR (when moving to a new pinned commit)
 * ERB_FIXTURES_BASE_URL replaces the download base (a mirror; the tests use a local server).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const MANIFEST = join(REPO, "scripts/erb-fixtures.sha256");
const ERB_COMMIT = "e2acb7041825688ed388550cbd1a4b3920db3325";
const DEFAULT_BASE_URL = `https://raw.githubusercontent.com/openedx/event-routing-backends/${ERB_COMMIT}`;
const DOWNLOAD_DIR = join(REPO, ".fixtures/erb-fixtures");
const SHARED_DIR = resolve(REPO, "../shared/reference/erb-fixtures");
const PARALLEL = 8;

/** Where each local folder lives in the ERB repository. */
const UPSTREAM: ReadonlyArray<readonly [local: string, upstream: string]> = [
  ["raw/", "event_routing_backends/processors/tests/fixtures/current/"],
  ["xapi/", "event_routing_backends/processors/xapi/tests/fixtures/expected/"],
  ["caliper/", "event_routing_backends/processors/caliper/tests/fixtures/expected/"],
  ["tracking.log", "event_routing_backends/management/commands/tests/fixtures/tracking.log"],
];

function upstreamPath(local: string): string {
  for (const [prefix, upstream] of UPSTREAM) if (local.startsWith(prefix)) return upstream + local.slice(prefix.length);
  throw new Error(`no upstream location for ${local}`);
}

interface ManifestEntry {
  readonly sha256: string;
  readonly path: string;
}

/** sha256sum's format (`<hex>  <path>`), so `sha256sum -c` can check a copy too. */
function parseManifest(text: string): ManifestEntry[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"))
    .map((line) => {
      const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
      if (!m) throw new Error(`bad manifest line: ${line}`);
      return { sha256: m[1]!, path: m[2]! };
    });
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Every manifest file that is missing or different in dir; empty when dir matches. */
function verify(dir: string, entries: readonly ManifestEntry[]): string[] {
  const problems: string[] = [];
  for (const e of entries) {
    const file = join(dir, e.path);
    if (!existsSync(file)) problems.push(`missing: ${e.path}`);
    else if (sha256(readFileSync(file)) !== e.sha256) problems.push(`different: ${e.path}`);
  }
  return problems;
}

/** One message for a directory that does not match: the first problems and how many more. */
function mismatch(dir: string, problems: readonly string[]): string {
  if (!existsSync(dir)) return `${dir} does not exist`;
  const more = problems.length > 10 ? `\n  ... and ${problems.length - 10} more` : "";
  return `${dir} does not match scripts/erb-fixtures.sha256 (${problems.length} files):\n  ${problems.slice(0, 10).join("\n  ")}${more}`;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
}

async function download(entries: readonly ManifestEntry[], to: string, baseUrl: string): Promise<void> {
  mkdirSync(dirname(to), { recursive: true });
  const staging = mkdtempSync(`${to}.partial-`);
  try {
    const queue = [...entries];
    const failures: string[] = [];
    const worker = async () => {
      for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
        const url = `${baseUrl}/${upstreamPath(e.path).split("/").map(encodeURIComponent).join("/")}`;
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          const bytes = new Uint8Array(await res.arrayBuffer());
          if (sha256(bytes) !== e.sha256) throw new Error("checksum differs from scripts/erb-fixtures.sha256");
          mkdirSync(dirname(join(staging, e.path)), { recursive: true });
          writeFileSync(join(staging, e.path), bytes);
        } catch (err) {
          failures.push(`${e.path} (${url}): ${(err as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    if (failures.length > 0) throw new Error(`could not fetch ${failures.length} fixture file(s):\n  ${failures.join("\n  ")}`);
    rmSync(to, { recursive: true, force: true });
    renameSync(staging, to);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function fail(message: string): never {
  process.stderr.write(`fixtures: ${message}\n`);
  process.exit(1);
}

async function main(argv: string[]): Promise<void> {
  const [flag, arg] = argv;
  if (flag === "--manifest") {
    if (!arg) fail("--manifest needs the directory of a fixture copy");
    const lines = listFiles(arg).map((f) => `${sha256(readFileSync(join(arg, f)))}  ${f}`);
    const header = `# ERB fixtures at openedx/event-routing-backends ${ERB_COMMIT} (scripts/fixtures.ts)\n`;
    writeFileSync(MANIFEST, `${header}${lines.join("\n")}\n`);
    process.stdout.write(`${lines.length} files written to ${relative(REPO, MANIFEST)}\n`);
    return;
  }
  const entries = parseManifest(readFileSync(MANIFEST, "utf8"));
  if (flag === "--verify") {
    if (!arg) fail("--verify needs a directory");
    const problems = verify(arg, entries);
    if (problems.length > 0) fail(mismatch(arg, problems));
    process.stdout.write(`${resolve(arg)}\n`);
    return;
  }
  const baseUrl = process.env["ERB_FIXTURES_BASE_URL"] ?? DEFAULT_BASE_URL;
  if (flag === "--download") {
    if (!arg) fail("--download needs a directory");
    await download(entries, resolve(arg), baseUrl);
    process.stdout.write(`${resolve(arg)}\n`);
    return;
  }
  if (flag !== undefined && flag !== "--check") fail(`unknown option ${flag} (see scripts/fixtures.ts)`);

  const given = process.env["ERB_FIXTURES_DIR"];
  const dir = given ? resolve(REPO, given) : existsSync(SHARED_DIR) ? SHARED_DIR : DOWNLOAD_DIR;
  const problems = existsSync(dir) ? verify(dir, entries) : ["missing: the whole directory"];
  if (problems.length === 0) {
    process.stdout.write(`${dir}\n`);
    return;
  }
  if (flag === "--check") fail(`${mismatch(dir, problems)}\nRun \`npm run fixtures\` to download them, or set ERB_FIXTURES_DIR to a copy.`);
  if (dir !== DOWNLOAD_DIR) fail(mismatch(dir, problems));
  process.stderr.write(`fixtures: fetching ${entries.length} files of event-routing-backends ${ERB_COMMIT.slice(0, 12)}...\n`);
  await download(entries, DOWNLOAD_DIR, baseUrl);
  process.stdout.write(`${DOWNLOAD_DIR}\n`);
}

main(process.argv.slice(2)).catch((e: unknown) => fail((e as Error).message));

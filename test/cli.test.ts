import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { gzipSync } from "node:zlib";
import { ERB_FIXTURES_DIR, ERB_TEST_EXTERNAL_ID, readExpectedFixture } from "./support/erb-fixtures.js";
import { cliArgs, runCli } from "./support/entrypoints.js";

const raw = (file: string) => join(ERB_FIXTURES_DIR, "raw", file);
let dir: string;
let identities: string;
let courses: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "er-cli-"));
  identities = join(dir, "identities.csv");
  courses = join(dir, "courses.csv");
  writeFileSync(identities, `user_id,username,external_id,email\n3,edx,${ERB_TEST_EXTERNAL_ID},edx@example.com\n`);
  writeFileSync(courses, "course_id,name\ncourse-v1:edX+DemoX+Demo_Course,Demonstration Course\n");
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI as users do; resolves with exit code and output instead of throwing on a non-zero exit. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args, { ...process.env, IDENTITY_HMAC_SECRET: "a-test-secret-of-enough-length" });
}

const common = ["--transformer-version", "event-routing-backends@1.1.1", "--identities", "IDS", "--courses", "COURSES"];
const withFiles = (args: string[]) => args.map((a) => (a === "IDS" ? identities : a === "COURSES" ? courses : a));

/** Output lines are JSON objects naming their input: {input, event, statements[, outcome, reason]}. */
interface OutLine {
  input: string;
  event?: string;
  outcome?: string;
  reason?: string;
  statements: Array<Record<string, unknown>>;
}
const outLines = (stdout: string) =>
  stdout
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as OutLine);

test("transform prints one line per input naming it: ERB's xAPI statements, the reason for a skip", async () => {
  const r = await cli(
    withFiles([
      "transform",
      "--backend",
      "xapi",
      ...common,
      raw("edx.course.enrollment.activated.json"),
      raw("edx.ui.lms.link_clicked(anonymous_user).json"),
      raw("problem_check(server,multiple_questions,correct).json"),
    ]),
  );
  assert.equal(r.code, 0, r.stderr);
  const lines = outLines(r.stdout);
  assert.equal(lines.length, 3);
  assert.equal(lines[0]!.input, raw("edx.course.enrollment.activated.json"));
  assert.deepEqual(lines[0]!.statements, readExpectedFixture("xapi", "edx.course.enrollment.activated.json"));
  assert.deepEqual(lines[1]!.statements, []);
  assert.equal(lines[1]!.outcome, "skipped");
  assert.match(r.stderr, /link_clicked\(anonymous_user\)\.json: skipped: no resolvable user/);
  assert.equal(lines[2]!.statements.length, 4, "multi-question parent and three children");
});

test("transform reads a log with one event per line (prefixes, gzip) and names FILE:LINE in each output line", async () => {
  const log = join(ERB_FIXTURES_DIR, "tracking.log");
  const gz = join(dir, "tracking.log.gz");
  writeFileSync(gz, gzipSync(readFileSync(log)));
  for (const input of [log, gz]) {
    const r = await cli(withFiles(["transform", "--backend", "xapi", ...common, input]));
    assert.equal(r.code, 1, "the sample log has two broken lines");
    const lines = outLines(r.stdout);
    assert.equal(lines.length, 12);
    assert.deepEqual(
      lines.map((l) => l.input),
      Array.from({ length: 12 }, (_, i) => `${input}:${i + 1}`),
    );
    assert.equal(lines[2]!.outcome, "invalid");
    assert.equal(lines[0]!.event, "edx.grades.subsection.grade_calculated");
    assert.equal(lines[0]!.statements.length, 1);
    assert.match(r.stderr, new RegExp(`${input.replace(/[.]/g, "\\.")}:11: not parsed`));
  }
});

test("transform --backend caliper prints events (not the envelope) and reads stdin", async () => {
  const child = execFile(process.execPath, [...cliArgs(), ...withFiles(["transform", "--backend", "caliper", ...common, "-"])]);
  let stdout = "";
  child.stdout!.on("data", (b: Buffer) => (stdout += b));
  child.stdin!.end(await import("node:fs").then((fs) => fs.readFileSync(raw("load_video.json"))));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  assert.equal(code, 0);
  const [line] = outLines(stdout);
  assert.equal(line!.input, "-");
  const [event] = line!.statements;
  assert.equal(event!["type"], "MediaEvent");
  assert.equal(event!["action"], "Started");
  assert.equal("dataVersion" in event!, false);
});

test("exit code 1 when an input does not parse; 2 on bad usage", async () => {
  const bad = join(dir, "bad.json");
  writeFileSync(bad, "not an event");
  const r = await cli(withFiles(["transform", "--backend", "xapi", ...common, raw("showanswer.json"), bad]));
  assert.equal(r.code, 1);
  assert.equal(r.stdout.trimEnd().split("\n").length, 2);
  assert.match(r.stderr, /bad\.json:1: not parsed/);
  assert.equal((await cli(["transform", "--backend", "json", raw("showanswer.json")])).code, 2);
});

test("users missing from --identities get a derived, stable external id", async () => {
  const args = ["transform", "--backend", "xapi", "--transformer-version", "v", raw("showanswer.json")];
  const [a, b] = await Promise.all([cli(args), cli(args)]);
  const actor = (r: { stdout: string }) =>
    (outLines(r.stdout)[0]!.statements[0] as { actor: { account: { name: string } } }).actor.account.name;
  assert.match(actor(a), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(actor(a), actor(b));
});

test("a reader that goes away (| head) ends the CLI quietly: exit 0, no EPIPE stack", async () => {
  // Far more output than a pipe buffers, so the CLI is still writing when the reader closes.
  const line = JSON.stringify(JSON.parse(readFileSync(raw("edx.course.enrollment.activated.json"), "utf8")));
  const log = join(dir, "many.log");
  writeFileSync(log, `${line}\n`.repeat(3000));
  const child = spawn(process.execPath, [...cliArgs(), "transform", "--backend", "xapi", log], {
    env: { ...process.env, IDENTITY_HMAC_SECRET: "a-test-secret-of-enough-length" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b));
  const exited = once(child, "exit");
  await once(child.stdout, "data"); // the first output, as head -1 reads it
  child.stdout.destroy();
  const [code, signal] = (await exited) as [number | null, string | null];
  assert.equal(signal, null);
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|Error|at /);
});

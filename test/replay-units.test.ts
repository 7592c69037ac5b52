/** The replay command's parts alone: line splitting with byte offsets, the resume rule, ordered commits, options. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Writable } from "node:stream";
import { gzipSync } from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import { Backoff } from "../src/backoff.js";
import { UsageError } from "../src/cli/exit-codes.js";
import { connectRemote } from "../src/cli/remote.js";
import { BatchSender, type BatchLine } from "../src/cli/replay/batch-sender.js";
import { resumePoint, type CheckpointEntry } from "../src/cli/replay/checkpoint.js";
import { FileHead, fingerprintOf } from "../src/cli/replay/fingerprint.js";
import { discoverInputs } from "../src/cli/replay/inputs.js";
import type { LineOutcome } from "../src/cli/replay/line-outcome.js";
import { LineSplitter } from "../src/cli/replay/line-splitter.js";
import { readInput } from "../src/cli/replay/line-sources.js";
import { RateLimiter } from "../src/cli/replay/rate-limiter.js";
import { createProgress } from "../src/cli/replay/progress.js";
import { runReplay } from "../src/cli/replay/replay-command.js";
import { parseReplayArgs } from "../src/cli/replay/replay-options.js";
import { MAX_KEYS, OTHER, Tally } from "../src/cli/replay/summary.js";
import { restrictRouters } from "../src/ingest/router-restriction.js";
import { PermissionDeniedError, type ValidationError } from "../src/errors.js";
import { makeRouter, MemoryRouterSource } from "./support/delivery-harness.js";

const dir = mkdtempSync(join(tmpdir(), "er-replay-units-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the splitter keeps byte offsets across chunks (multi-byte characters, CRLF, no final newline)", () => {
  const text = 'a\r\nélève\n\n{"x":1}';
  const bytes = Buffer.from(text);
  const s = new LineSplitter(0, 0, 1000);
  // One byte at a time: a line and even a character split across chunks.
  const lines = [...bytes].flatMap((b) => s.push(Buffer.from([b])));
  const last = s.end();
  assert.deepEqual(
    [...lines, last].map((l) => [l!.text, l!.lineNo, l!.endOffset]),
    [
      ["a", 1, 3],
      ["élève", 2, 3 + Buffer.byteLength("élève\n")],
      ["", 3, 3 + Buffer.byteLength("élève\n") + 1],
      ['{"x":1}', 4, bytes.length],
    ],
  );
  // The last line has no newline: marked, with where it starts, so the checkpoint can stay before it.
  assert.deepEqual([last!.unterminated, last!.startOffset], [true, bytes.length - Buffer.byteLength('{"x":1}')]);
  assert.equal(lines[1]!.unterminated, undefined);
  // Resumed at an offset, the numbering continues from the checkpoint.
  const resumed = new LineSplitter(3, 1, 1000).push(bytes.subarray(3));
  assert.deepEqual(
    resumed.map((l) => l.lineNo),
    [2, 3],
  );
});

test("a line over the limit is reported as too long, with constant memory, and the next line is intact", () => {
  const s = new LineSplitter(0, 0, 10);
  const lines = [...s.push(Buffer.from("x".repeat(5000))), ...s.push(Buffer.from("yyy\nok\n"))];
  assert.equal(lines.length, 2);
  assert.equal(lines[0]!.tooLong, true);
  assert.equal(lines[0]!.text.length, 10);
  assert.equal(lines[0]!.endOffset, 5004);
  assert.deepEqual([lines[1]!.text, lines[1]!.tooLong], ["ok", undefined]);
});

test("resume rule: same inode resumes; truncated, replaced or changed gzip start over; a renamed file is found by inode", () => {
  const entry = (p: Partial<CheckpointEntry>): CheckpointEntry => ({ dev: 1, ino: 10, size: 100, gzip: false, offset: 80, lines: 8, ...p });
  const entries = { "/l/tracking.log": entry({}), "/l/old.gz": entry({ ino: 20, gzip: true, size: 50, offset: 400, lines: 40 }) };
  assert.equal(resumePoint(entries, "/l/tracking.log", { dev: 1, ino: 10, size: 200 }, false).offset, 80);
  assert.equal(resumePoint(entries, "/l/tracking.log", { dev: 1, ino: 10, size: 50 }, false).offset, 0, "truncated");
  assert.equal(resumePoint(entries, "/l/tracking.log", { dev: 1, ino: 11, size: 500 }, false).offset, 0, "a new file at the path");
  const renamed = resumePoint(entries, "/l/tracking.log.1", { dev: 1, ino: 10, size: 100 }, false);
  assert.deepEqual([renamed.offset, renamed.lines], [80, 8]);
  assert.match(renamed.note, /was \/l\/tracking\.log/);
  assert.deepEqual(resumePoint(entries, "/l/old.gz", { dev: 1, ino: 20, size: 50 }, true).offset, 400);
  assert.equal(resumePoint(entries, "/l/old.gz", { dev: 1, ino: 20, size: 51 }, true).offset, 0, "gzip rewritten");
  assert.equal(resumePoint(entries, "/l/new.log", { dev: 1, ino: 99, size: 5 }, false).offset, 0);
  // The fingerprint: same inode and big enough, but other first bytes (copytruncate, then regrowth) start over;
  // a reused inode under another name is not taken for the renamed file.
  const first = Buffer.from("2024-01-01 first line\n".repeat(10));
  const printed = { "/l/tracking.log": entry({ head: fingerprintOf(first, 80) }) };
  assert.equal(resumePoint(printed, "/l/tracking.log", { dev: 1, ino: 10, size: 200, head: first }, false).offset, 80);
  const rewritten = resumePoint(
    printed,
    "/l/tracking.log",
    { dev: 1, ino: 10, size: 200, head: Buffer.from("2024-02-02 x\n".repeat(20)) },
    false,
  );
  assert.deepEqual([rewritten.offset, rewritten.note], [0, "content changed since the checkpoint (copytruncate, or rewritten)"]);
  assert.equal(resumePoint(printed, "/l/tracking.log.1", { dev: 1, ino: 10, size: 200, head: Buffer.from("other") }, false).offset, 0);
  // The reader's view of the first bytes, filled as it reads, fingerprints only up to the committed offset.
  const head = new FileHead(first.subarray(0, 30));
  head.observe(30, first.subarray(30, 100));
  head.observe(500, Buffer.from("ignored: past what is known"));
  assert.deepEqual(head.fingerprint(80), fingerprintOf(first, 80));
  assert.equal(head.startsLike(first), true);
  assert.equal(head.startsLike(Buffer.from("2024-01-01 f")), false, "shorter than what was read: truncated");
});

const outcome = (name: string): LineOutcome => ({ outcome: "published", name, reason: "", statements: 1, stored: 1 });
const lines = (...texts: string[]): BatchLine<string>[] => texts.map((t) => ({ text: t, meta: t }));

test("batches complete in any order but are committed in order; a failure stops commits after it", async () => {
  const release = new Map<string, () => void>();
  const processor = {
    submit: (texts: readonly string[]) =>
      new Promise<LineOutcome[]>((resolve, reject) => {
        release.set(texts[0]!, () =>
          texts[0] === "bad" ? reject(new ConnectError("no", Code.PermissionDenied)) : resolve(texts.map(outcome)),
        );
      }),
  };
  const committed: string[] = [];
  const sender = new BatchSender<string>(processor, {
    inFlight: 3,
    maxAttempts: 3,
    commit: (ls) => committed.push(...ls.map((l) => l.meta)),
  });
  sender.enqueue(lines("1a", "1b"));
  sender.enqueue(lines("2"));
  sender.enqueue(lines("bad"));
  sender.enqueue(lines("4"));
  await new Promise((r) => setImmediate(r));
  release.get("2")!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(committed, [], "batch 2 waits for batch 1");
  release.get("1a")!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(committed, ["1a", "1b", "2"]);
  release.get("bad")!();
  release.get("4")!(); // in flight when the failure came: drain still waits for it
  await sender.drain();
  assert.equal((sender.error as ConnectError).code, Code.PermissionDenied);
  assert.deepEqual(committed, ["1a", "1b", "2"], "nothing after the failed batch");
});

test("a transient failure is retried; blank lines are committed without being sent", async () => {
  let calls = 0;
  const processor = {
    async submit(texts: readonly string[]) {
      calls += 1;
      if (calls === 1) throw new ConnectError("down", Code.Unavailable);
      return texts.map(outcome);
    },
  };
  const got: Array<LineOutcome | undefined> = [];
  const sender = new BatchSender(processor, { inFlight: 1, maxAttempts: 3, backoff: new Backoff(1, 1), commit: (_l, o) => got.push(...o) });
  sender.enqueue([
    { text: "x", meta: "x" },
    { text: undefined, meta: "blank" },
    { text: "y", meta: "y" },
  ]);
  await sender.drain();
  assert.equal(sender.error, undefined);
  assert.equal(calls, 2);
  assert.deepEqual(
    got.map((o) => o?.name),
    ["x", undefined, "y"],
  );
});

test("the rate limiter books events on a virtual clock", async () => {
  let now = 1000;
  const limiter = new RateLimiter(100, () => now);
  assert.equal(await limiter.take(50), 0, "0.5 s booked, no wait for the first");
  // The aborted signal makes the sleep return at once; the wait it would have imposed is returned.
  assert.equal(await limiter.take(50, AbortSignal.abort()), 500);
  assert.equal(await limiter.take(100, AbortSignal.abort()), 1000);
  now += 5000;
  assert.equal(await limiter.take(10), 0, "idle time is not saved up as a burst");
});

test("options: environment and flags, checkpoint only when storing, --follow and --router rules", () => {
  const env = { EVENT_ROUTING_URL: "http://svc:1", EVENT_ROUTING_TOKEN: "t", HOME: "/home/u" };
  const o = parseReplayArgs(["a.log"], env);
  assert.deepEqual([o.url, o.token, o.batchSize, o.inFlight], ["http://svc:1", "t", 500, 4]);
  // The default checkpoint: per user, one per inputs and target, never in the working directory.
  assert.match(o.checkpoint!, /^\/home\/u\/\.local\/state\/event-routing\/replay\/a\.log-[0-9a-f]{16}\.json$/);
  assert.equal(o.checkpointIsDefault, true);
  assert.match(parseReplayArgs(["a.log"], { ...env, XDG_STATE_HOME: "/s" }).checkpoint!, /^\/s\/event-routing\/replay\/a\.log-/);
  assert.match(parseReplayArgs(["a.log"], { ...env, XDG_STATE_HOME: "rel" }).checkpoint!, /^\/home\/u\//, "a relative XDG path is ignored");
  assert.equal(parseReplayArgs(["a.log"], env).checkpoint, o.checkpoint, "the same command, the same checkpoint");
  for (const other of [["b.log"], ["--router", "r", "a.log"], ["--url", "http://other", "a.log"]])
    assert.notEqual(parseReplayArgs(other, env).checkpoint, o.checkpoint, other.join(" "));
  assert.equal(parseReplayArgs(["-"], env).checkpoint, undefined, "stdin alone has nothing to resume");
  assert.equal(parseReplayArgs(["--checkpoint", "c.json", "a"], {}).checkpointIsDefault, false);
  assert.throws(() => parseReplayArgs(["a.log"], {}), /neither XDG_STATE_HOME nor HOME is set.*--checkpoint FILE or --no-checkpoint/);
  assert.equal(parseReplayArgs(["--url", "http://x", "a"], env).url, "http://x");
  assert.equal(parseReplayArgs(["--dry-run", "a"], {}).checkpoint, undefined);
  assert.equal(parseReplayArgs(["--output", "-", "a"], {}).dryRun, true);
  assert.equal(parseReplayArgs(["--rate", "50", "a"], env).batchSize, 50, "a batch is at most one second's worth");
  assert.deepEqual(parseReplayArgs(["--router", "a", "--router", "b", "x"], env).routerIds, ["a", "b"]);
  assert.throws(() => parseReplayArgs(["--offline", "--router", "a", "x"], {}), UsageError);
  assert.throws(() => parseReplayArgs(["--follow", "a", "b"], {}), UsageError);
  assert.throws(() => parseReplayArgs(["--batch-size", "0", "a"], {}), /--batch-size must be a positive integer/);
  assert.throws(() => parseReplayArgs([], {}), /no inputs/);
});

test("inputs: files, directories recursively in natural order, globs, gzip by content; each once", async () => {
  mkdirSync(join(dir, "logs/old"), { recursive: true });
  writeFileSync(join(dir, "logs/tracking.log"), "x\n");
  writeFileSync(join(dir, "logs/tracking.log.10"), "x\n");
  writeFileSync(join(dir, "logs/tracking.log.2"), gzipSync("x\n"));
  writeFileSync(join(dir, "logs/old/tracking.log.3.gz"), gzipSync("x\n"));
  const got = await discoverInputs([join(dir, "logs"), join(dir, "logs/*.log*")]);
  assert.deepEqual(
    got.map((i) => [i.path.slice(dir.length), i.gzip]),
    [
      ["/logs/old/tracking.log.3.gz", true],
      ["/logs/tracking.log", false],
      ["/logs/tracking.log.2", true],
      ["/logs/tracking.log.10", false],
    ],
  );
  await assert.rejects(discoverInputs([join(dir, "nope")]), /no such file or directory/);
  await assert.rejects(discoverInputs([join(dir, "*.nothing")]), /no file matches/);
});

test("router restriction: admin only, every id must exist, narrows list() and get()", () => {
  const source = new MemoryRouterSource();
  source.put(makeRouter("a", "http://127.0.0.1:9/a"));
  source.put(makeRouter("b", "http://127.0.0.1:9/b"));
  assert.equal(restrictRouters(source, [], "emit"), source);
  assert.throws(() => restrictRouters(source, ["a"], "emit"), PermissionDeniedError);
  assert.throws(() => restrictRouters(source, ["a"], undefined), PermissionDeniedError);
  assert.throws(
    () => restrictRouters(source, ["a", "c"], "admin"),
    (e: ValidationError) => e.field === "router_ids[1]",
  );
  const only = restrictRouters(source, ["b"], "admin");
  assert.deepEqual(
    only.list().map((r) => r.id),
    ["b"],
  );
  assert.equal(only.get("a"), undefined);
});

test("a failure is reported once, so the command stops reading (a followed log is not read for nothing)", async () => {
  const failures: Error[] = [];
  const processor = { submit: async () => Promise.reject(new ConnectError("refused", Code.PermissionDenied)) };
  const sender = new BatchSender<string>(processor, { inFlight: 2, maxAttempts: 3, commit: () => {}, onFailure: (e) => failures.push(e) });
  sender.enqueue(lines("a"));
  sender.enqueue(lines("b"));
  await sender.drain();
  assert.equal(failures.length, 1);
  sender.enqueue(lines("c"));
  await sender.drain();
  assert.equal(failures.length, 1, "nothing is sent after a failure");
});

test("the progress bar on a terminal: counts, rate, the top skip reason, and reports above the bar", () => {
  let text = "";
  const err = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    }),
    { isTTY: true, columns: 200, cursorTo: () => true, clearLine: () => true, moveCursor: () => true },
  );
  const tally = new Tally();
  tally.add({ outcome: "published", name: "e", reason: "", statements: 2, stored: 4 });
  tally.add({ outcome: "skipped", name: "e", reason: "no resolvable user", statements: 0, stored: 0 });
  const progress = createProgress({ enabled: true, totalBytes: 1000, tally, err });
  progress.update(500);
  progress.log("tracking.log:3: invalid JSON\n");
  progress.stop();
  assert.match(text, /tracking\.log:3: invalid JSON/);
  assert.match(text, /50% ETA/);
  assert.match(text, /2 lines, \d+ lines\/s \| stored 4 \| invalid 0 \| skipped 1 \(no resolvable user: 1\)/);
});

test("the tally stays bounded: past MAX_KEYS distinct event names the rest count under (other)", () => {
  const t = new Tally();
  for (let i = 0; i < MAX_KEYS + 500; i++)
    t.add({ outcome: "no_transformer", name: `/courses/x/block-${i}`, reason: "", statements: 0, stored: 0 });
  t.add({ outcome: "published", name: "/courses/x/block-1", reason: "", statements: 1, stored: 1 });
  assert.equal(Object.keys(t.data.byEvent).length, MAX_KEYS + 1);
  assert.equal(t.data.byEvent[OTHER]!["no_transformer"], 500);
  assert.deepEqual(t.data.byEvent["/courses/x/block-1"], { no_transformer: 1, published: 1 });
  assert.equal(t.data.events, MAX_KEYS + 501);
});

test("following a file emptied and written again past the position (copytruncate): read from its start, never mid-content", async () => {
  const path = join(dir, "followed.log");
  writeFileSync(path, "old line 1\nold line 2\nold line 3\n");
  const stop = new AbortController();
  const lines = readInput(
    { path, gzip: false },
    { start: { offset: 0, lines: 0, note: "" }, maxLineBytes: 1000, follow: true, pollMs: 20, signal: stop.signal },
  );
  for (let i = 1; i <= 3; i++) assert.equal((await lines.next()).value?.text, `old line ${i}`);
  // Same inode, longer than the position: only the first bytes tell it is other content.
  writeFileSync(path, "new line 1 is longer\nnew line 2\nnew line 3\n");
  const next = (await lines.next()).value!;
  assert.deepEqual([next.text, next.lineNo, next.startOffset], ["new line 1 is longer", 1, 0]);
  stop.abort();
  await lines.return(undefined);
});

test("replay and the operator commands share one transport: a URL that does not parse is bad usage, named", async () => {
  const input = join(dir, "bad-url.log");
  writeFileSync(input, "{}\n");
  let err = "";
  const sink = (write: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, done) {
        write(String(chunk));
        done();
      },
    });
  const code = await runReplay(["--url", "not a url", "--no-checkpoint", input], {
    out: sink(() => {}),
    err: sink((s) => {
      err += s;
    }),
    env: {},
  });
  assert.equal(code, 2, "replay's documented usage code");
  assert.match(err, /EVENT_ROUTING_URL \/ --url "not a url" is not a URL/);
  assert.throws(
    () => connectRemote({ url: "not a url", token: "t" }, {}),
    (e: Error) => e instanceof UsageError && /is not a URL/.test(e.message),
  );
});

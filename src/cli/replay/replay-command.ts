/**
 * `replay`: tracking logs into the service (or through its transform only), line by line, resumable. This file
 * only wires the parts: inputs -> line sources (from the checkpoint's offsets) -> batches (--batch-size, --rate)
 * -> the sender (several in flight, committed in order) -> tally, progress, --output and the checkpoint
 * (line-commit.ts).
 * Ctrl-C (or SIGTERM) stops reading, lets the batches in flight finish and be committed, saves the checkpoint
 * and prints the summary; a second Ctrl-C quits at once (the checkpoint is still valid: it only ever holds
 * acknowledged offsets). Exit codes (REPLAY_EXIT, exit-codes.ts): 0 when done, 1 when stopped by an error, 130
 * when interrupted, 2 on bad usage (a flag, or a URL that does not parse).
 */
import { createWriteStream, existsSync } from "node:fs";
import { open } from "node:fs/promises";
import { resolve } from "node:path";
import type { Writable } from "node:stream";
import type { Client } from "@connectrpc/connect";
import type { EventRoutingService } from "../../../gen/eventrouting/v1/event_routing_service_pb.js";
import { REPLAY_EXIT, UsageError } from "../exit-codes.js";
import { offlinePipeline } from "../offline-pipeline.js";
import { BatchSender, type BatchLine } from "./batch-sender.js";
import { Checkpoint, resumePoint, type FileNow, type ResumePoint } from "./checkpoint.js";
import { readHead } from "./fingerprint.js";
import { discoverInputs, displayPath, type InputFile } from "./inputs.js";
import { createCommit, type LineMeta } from "./line-commit.js";
import { invalidLine } from "./line-outcome.js";
import { readInput } from "./line-sources.js";
import { dryProcessor, emitProcessor, offlineProcessor, serviceClient, type LineProcessor } from "./processors.js";
import { createProgress, type Progress } from "./progress.js";
import { RateLimiter } from "./rate-limiter.js";
import { LEGACY_CHECKPOINT, parseReplayArgs, REPLAY_USAGE, type ReplayOptions } from "./replay-options.js";
import { findRotated } from "./rotated-file.js";
import { summaryJson, summaryText, Tally } from "./summary.js";

export interface ReplayIo {
  readonly out: Writable;
  readonly err: Writable & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

/** One file to read: where to start, and under which input's key its offsets are checkpointed. */
interface Plan {
  readonly input: InputFile;
  readonly key: string;
  readonly start: ResumePoint;
  readonly follow: boolean;
  /** Bytes now (undefined for stdin). */
  readonly size: number | undefined;
}

/** A partial batch is sent after this long without a new line (a followed log, a slow pipe). */
const IDLE_FLUSH_MS = 200;

export async function runReplay(args: readonly string[], io: ReplayIo): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    io.out.write(REPLAY_USAGE);
    return REPLAY_EXIT.done;
  }
  let opts: ReplayOptions;
  // The service's client is made before anything is read or locked: a URL that does not parse is bad usage.
  let client: Client<typeof EventRoutingService> | undefined;
  try {
    opts = parseReplayArgs(args, io.env);
    client = opts.offline ? undefined : serviceClient(opts);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err.write(`${e.message}\n${REPLAY_USAGE}`);
    return REPLAY_EXIT.usage;
  }
  if (opts.checkpointIsDefault && existsSync(LEGACY_CHECKPOINT))
    io.err.write(
      `${LEGACY_CHECKPOINT} in the working directory is no longer the default checkpoint: pass --checkpoint ${LEGACY_CHECKPOINT} to resume from it\n`,
    );
  // Locked and proven writable before anything is read or sent (see checkpoint.ts): a run that cannot keep its
  // checkpoint stops here, with exit 1, rather than after its first stored batch.
  let checkpoint: Checkpoint | undefined;
  try {
    checkpoint = opts.checkpoint
      ? Checkpoint.open(
          opts.checkpoint,
          opts.target,
          opts.checkpointIsDefault
            ? "set XDG_STATE_HOME to a writable directory (in a container: a mounted volume), or pass --checkpoint FILE or --no-checkpoint"
            : undefined,
        )
      : undefined;
  } catch (e) {
    io.err.write(`replay: ${(e as Error).message}\n`);
    return REPLAY_EXIT.failed;
  }
  try {
    return await replay(opts, io, checkpoint, client);
  } finally {
    checkpoint?.close();
  }
}

/** A file as it is now, with its first bytes for the checkpoint's fingerprint (plain files). */
async function fileNow(input: InputFile): Promise<FileNow> {
  const fh = await open(input.path, "r");
  try {
    const s = await fh.stat();
    return { dev: s.dev, ino: s.ino, size: s.size, ...(input.gzip ? {} : { head: await readHead(fh) }) };
  } finally {
    await fh.close();
  }
}

/**
 * Where each input starts. A plain input whose checkpointed file was rotated away (the path names a new file)
 * and is not an input itself first gets the rest of that old file, found by inode next to it, read under the
 * input's key: a follower stopped between a rotation and reading the old file's last lines loses none of them.
 */
async function planInputs(inputs: readonly InputFile[], checkpoint: Checkpoint | undefined, follow: boolean): Promise<Plan[]> {
  const now = new Map<string, FileNow>();
  for (const input of inputs) if (input.path !== "-") now.set(input.path, await fileNow(input));
  const inodes = new Set([...now.values()].map((f) => `${f.dev}:${f.ino}`));
  const plans: Plan[] = [];
  for (const input of inputs) {
    const file = now.get(input.path);
    if (file === undefined) {
      plans.push({ input, key: input.path, start: { offset: 0, lines: 0, note: "stdin" }, follow: false, size: undefined });
      continue;
    }
    const entry = checkpoint?.entries[input.path];
    if (checkpoint && entry && !input.gzip && !entry.gzip && !inodes.has(`${entry.dev}:${entry.ino}`)) {
      const rotated = await findRotated(input.path, entry);
      if (rotated !== undefined) {
        const old: InputFile = { path: rotated, gzip: false };
        const oldNow = await fileNow(old);
        const start = resumePoint(checkpoint.entries, rotated, oldNow, false);
        const note = `${start.note}, rotated from ${displayPath(input.path)}`;
        plans.push({ input: old, key: input.path, start: { ...start, note }, follow: false, size: oldNow.size });
      }
    }
    const start = checkpoint ? resumePoint(checkpoint.entries, input.path, file, input.gzip) : { offset: 0, lines: 0, note: "new input" };
    plans.push({ input, key: input.path, start, follow, size: file.size });
  }
  return plans;
}

async function replay(
  opts: ReplayOptions,
  io: ReplayIo,
  checkpoint: Checkpoint | undefined,
  client: Client<typeof EventRoutingService> | undefined,
): Promise<number> {
  const started = Date.now();
  if (checkpoint?.ignoredReason) io.err.write(`checkpoint ${checkpoint.path}: ${checkpoint.ignoredReason}\n`);
  const inputs = await discoverInputs(opts.inputs, filesWritten(opts));
  const processor = chooseProcessor(opts, io, client);
  const output = openOutput(opts, io);
  const plans = await planInputs(inputs, checkpoint, opts.follow);

  const tally = new Tally();
  const totalBytes = bytesToRead(plans, opts.follow);
  const progress = createProgress({ enabled: opts.progress && io.err.isTTY === true, totalBytes, tally, err: io.err });
  const startOffsets = new Map<string, number>(plans.map((p) => [p.key, p.start.offset]));
  const commit = createCommit({ tally, progress, output, checkpoint, startOffsets });

  // Reading stops on Ctrl-C and when the run failed (a followed log would otherwise be read for nothing).
  const stop = new AbortController();
  const sender = new BatchSender<LineMeta>(processor, {
    inFlight: opts.inFlight,
    maxAttempts: opts.maxAttempts,
    commit,
    onFailure: () => stop.abort(),
    onRetry: (attempt, error, waitMs) => progress.log(`batch failed (${error.message}); retry ${attempt} in ${waitMs} ms\n`),
  });
  const interrupt = stopOnInterrupt(stop, sender, progress);
  try {
    await sendLines(plans, opts, sender, progress, stop.signal);
  } finally {
    interrupt.dispose();
    progress.stop();
    if (output && output !== io.out) await new Promise<void>((r) => output.end(r));
  }

  const run = {
    mode: opts.offline ? ("offline" as const) : opts.dryRun ? ("dry-run" as const) : ("emit" as const),
    interrupted: interrupt.interrupted(),
    error: sender.error?.message,
    seconds: (Date.now() - started) / 1000,
    inputs: plans.map((p) => ({ path: displayPath(p.input.path), note: p.start.note })),
    checkpoint: checkpoint?.path,
  };
  (opts.output === "-" ? io.err : io.out).write(opts.json ? summaryJson(tally, run) : summaryText(tally, run));
  return sender.error ? REPLAY_EXIT.failed : run.interrupted ? REPLAY_EXIT.interrupted : REPLAY_EXIT.done;
}

/** The files this run writes (checkpoint, its lock, --output): never read as inputs, even inside an input directory. */
function filesWritten(opts: ReplayOptions): Set<string> {
  return new Set(
    [opts.checkpoint, opts.checkpoint && `${opts.checkpoint}.lock`, opts.output]
      .filter((p): p is string => typeof p === "string" && p !== "-")
      .map((p) => resolve(p)),
  );
}

/** Offline: the transform only; otherwise the service's Transform (--dry-run) or EmitBatch. */
function chooseProcessor(opts: ReplayOptions, io: ReplayIo, client: Client<typeof EventRoutingService> | undefined): LineProcessor {
  if (client === undefined) return offlineProcessor(offlinePipeline(opts.offlineOptions, io.err, io.env));
  return opts.dryRun ? dryProcessor(client, opts.routerIds, opts.output !== undefined) : emitProcessor(client, opts.routerIds);
}

/** Where --output goes: stdout for "-", else the file. */
function openOutput(opts: ReplayOptions, io: ReplayIo): Writable | undefined {
  return opts.output === undefined ? undefined : opts.output === "-" ? io.out : createWriteStream(opts.output);
}

/** How many bytes there are to read when every size is known (for the ETA). */
function bytesToRead(plans: readonly Plan[], follow: boolean): number | undefined {
  let totalBytes: number | undefined = 0;
  for (const { input, start, size } of plans) {
    if (size === undefined || input.gzip || follow) totalBytes = undefined;
    else if (totalBytes !== undefined) totalBytes += Math.max(size - start.offset, 0);
  }
  return totalBytes;
}

/** Ctrl-C (or SIGTERM): stop reading, finish what is in flight. Twice: quit now. */
function stopOnInterrupt(
  stop: AbortController,
  sender: BatchSender<LineMeta>,
  progress: Progress,
): { interrupted(): boolean; dispose(): void } {
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) {
      sender.abortRetries();
      process.exit(REPLAY_EXIT.interrupted);
    }
    interrupted = true;
    stop.abort();
    progress.log("stopping after the batches in flight (Ctrl-C again to quit now)\n");
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    interrupted: () => interrupted,
    dispose() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/**
 * Reads the plans in order into batches of --batch-size (at --rate), and sends a partial batch after IDLE_FLUSH_MS
 * without a new line; then waits until every batch sent is settled. Stops reading when `signal` aborts or the
 * sender failed.
 */
async function sendLines(
  plans: readonly Plan[],
  opts: ReplayOptions,
  sender: BatchSender<LineMeta>,
  progress: Progress,
  signal: AbortSignal,
): Promise<void> {
  const limiter = opts.rate ? new RateLimiter(opts.rate) : undefined;
  let current: BatchLine<LineMeta>[] = [];
  let lastLineAt = Date.now();
  const send = (batch: BatchLine<LineMeta>[]) => sender.enqueue(batch);
  const idle = setInterval(() => {
    if (current.length > 0 && Date.now() - lastLineAt >= IDLE_FLUSH_MS && !signal.aborted) {
      const batch = current;
      current = [];
      void limiter?.take(batch.length);
      send(batch);
    }
  }, IDLE_FLUSH_MS);

  try {
    for (const { input, key, start, follow } of plans) {
      if (signal.aborted || sender.error) break;
      if (start.offset > 0 || opts.checkpoint) progress.log(`${displayPath(input.path)}: ${start.note}\n`);
      const lines = readInput(input, { start, maxLineBytes: opts.maxLineBytes, follow, pollMs: opts.pollMs, signal });
      for await (const line of lines) {
        lastLineAt = Date.now();
        current.push(batchLine({ input, key, line }, opts.maxLineBytes));
        if (current.length >= opts.batchSize) {
          const batch = current;
          current = [];
          await limiter?.take(batch.length, signal);
          if (signal.aborted) break;
          send(batch);
          await sender.room();
          if (sender.error) break;
        }
      }
    }
    // Lines read but not sent when interrupted are left for the next run (the checkpoint is before them).
    if (!signal.aborted && !sender.error && current.length > 0) send(current);
    current = [];
    await sender.drain();
  } finally {
    clearInterval(idle);
  }
}

/** A line as the sender takes it: a blank one is skipped, a too long one is invalid without being sent. */
function batchLine(meta: LineMeta, maxLineBytes: number): BatchLine<LineMeta> {
  if (meta.line.tooLong) return { text: undefined, outcome: invalidLine(`line longer than ${maxLineBytes} bytes`), meta };
  return { text: meta.line.text.trim() === "" ? undefined : meta.line.text, meta };
}

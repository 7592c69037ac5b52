/**
 * Reads one input as lines, streaming (constant memory: one read buffer and at most one partial line), from a
 * resume point. Plain files are read with positioned reads from the checkpoint's byte offset; gzip files are
 * decompressed from the start and the lines before the offset skipped (gzip cannot seek); stdin from its start.
 *
 * Follow mode (plain files only) is `tail -F`: at the end of the file it polls; when the path names another
 * inode (the log was rotated), it finishes the old file and continues with the new one from its start; when the
 * file shrank below the position or its first bytes changed (truncated in place, e.g. `> tracking.log` or
 * copytruncate, and maybe written again), it starts again from byte 0. Every
 * line carries the identity of the file it came from, so the checkpoint follows the rotation.
 */
import { createReadStream } from "node:fs";
import { open, stat, type FileHandle } from "node:fs/promises";
import { createGunzip } from "node:zlib";
import { sleep } from "../../backoff.js";
import type { FileIdentity, ResumePoint } from "./checkpoint.js";
import { FileHead, readHead } from "./fingerprint.js";
import type { InputFile } from "./inputs.js";
import { LineSplitter, type LogLine } from "./line-splitter.js";

export interface SourceLine extends LogLine {
  /** The file the line came from; undefined for stdin (never checkpointed). */
  readonly identity: FileIdentity | undefined;
  /** Plain files: the file's first bytes as read, for the checkpoint's fingerprint. */
  readonly head?: FileHead;
}

export interface ReadOptions {
  readonly start: ResumePoint;
  readonly maxLineBytes: number;
  readonly follow: boolean;
  /** Follow mode: how often to look for appended lines, rotation and truncation. */
  readonly pollMs: number;
  /** Stops reading (Ctrl-C): no more lines are yielded. */
  readonly signal: AbortSignal;
}

const READ_BUFFER_BYTES = 64 * 1024;

export function readInput(input: InputFile, opts: ReadOptions): AsyncGenerator<SourceLine> {
  if (input.path === "-") return readStream(process.stdin, undefined, opts);
  if (input.gzip) return readGzip(input.path, opts);
  return readPlain(input.path, opts);
}

async function identityOf(fh: FileHandle): Promise<FileIdentity> {
  const s = await fh.stat();
  return { dev: s.dev, ino: s.ino, size: s.size };
}

async function* readStream(
  stream: AsyncIterable<Buffer>,
  identity: FileIdentity | undefined,
  opts: ReadOptions,
  skipTo = 0,
): AsyncGenerator<SourceLine> {
  const splitter = new LineSplitter(0, 0, opts.maxLineBytes);
  for await (const chunk of stream) {
    if (opts.signal.aborted) return;
    for (const line of splitter.push(chunk)) if (line.endOffset > skipTo) yield { ...line, identity };
  }
  const last = splitter.end();
  if (last && last.endOffset > skipTo && !opts.signal.aborted) yield { ...last, identity };
}

async function* readGzip(path: string, opts: ReadOptions): AsyncGenerator<SourceLine> {
  const s = await stat(path);
  const gunzip = createGunzip();
  const file = createReadStream(path);
  file.on("error", (e) => gunzip.destroy(e));
  file.pipe(gunzip);
  try {
    yield* readStream(gunzip, { dev: s.dev, ino: s.ino, size: s.size }, opts, opts.start.offset);
  } finally {
    file.destroy();
    gunzip.destroy();
  }
}

async function* readPlain(path: string, opts: ReadOptions): AsyncGenerator<SourceLine> {
  let fh = await open(path, "r");
  let identity = await identityOf(fh);
  let head = new FileHead(opts.start.offset > 0 ? await readHead(fh, opts.start.offset) : undefined);
  let position = opts.start.offset;
  let splitter = new LineSplitter(opts.start.offset, opts.start.lines, opts.maxLineBytes);
  const buffer = Buffer.alloc(READ_BUFFER_BYTES);
  let drained = false;
  const restart = (why: FileIdentity) => {
    identity = why;
    head = new FileHead();
    position = 0;
    splitter = new LineSplitter(0, 0, opts.maxLineBytes);
  };
  try {
    while (!opts.signal.aborted) {
      // Followed, the file may be emptied in place (`> tracking.log`, copytruncate) and written again at any time:
      // shorter than the position, or other first bytes, before every read (an fstat and a 1 KiB read) rather
      // than only when idle, so new content is never read from the middle.
      if (opts.follow && position > 0) {
        const now = await identityOf(fh);
        if (now.size < position || !head.startsLike(await readHead(fh, head.size))) {
          restart(now);
          continue;
        }
      }
      const { bytesRead } = await fh.read(buffer, 0, buffer.length, position);
      if (bytesRead > 0) {
        head.observe(position, buffer.subarray(0, bytesRead));
        position += bytesRead;
        for (const line of splitter.push(buffer.subarray(0, bytesRead))) yield { ...line, identity, head };
        continue;
      }
      if (!opts.follow) {
        const last = splitter.end();
        if (last) yield { ...last, identity, head };
        return;
      }
      await sleep(opts.pollMs, opts.signal);
      if (opts.signal.aborted) break;
      const onDisk = await stat(path).catch(() => undefined);
      if (onDisk && (onDisk.ino !== identity.ino || onDisk.dev !== identity.dev)) {
        // Rotated. Lines written to the old file between our last read and the rename (the LMS keeps its handle
        // until it reopens) are read first: one more pass to its end, then the new file.
        if (!drained) {
          drained = true;
          continue;
        }
        drained = false;
        const last = splitter.end();
        if (last) yield { ...last, identity, head };
        const next = await open(path, "r");
        await fh.close();
        fh = next;
        restart(await identityOf(fh));
      }
    }
  } finally {
    await fh.close();
  }
}

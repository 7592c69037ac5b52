/**
 * The replay checkpoint: per input, its identity (device, inode, size) and the byte offset just past the last line
 * of the last fully acknowledged batch, so an interrupted run re-run with the same arguments reads only the rest.
 * Lines after that offset may have been stored already (a batch in flight when the run stopped); re-sending them
 * is harmless because statement ids are deterministic and JetStream de-duplicates them.
 *
 * The resume rule (`resumePoint`, pure): a plain file resumes when it is the same inode and has not shrunk below
 * the offset (shrunk = truncated: start over); a file renamed by rotation is found by its inode under its new
 * path. A gzip file has no seekable line offsets, so its offset counts decompressed bytes: it is re-read from the
 * start and the lines before the offset skipped, and only when it is byte-for-byte the same size and inode.
 * Each plain entry also keeps a fingerprint of the file's first bytes (fingerprint.ts): a file whose start changed
 * (emptied by `copytruncate` and written again past the offset, or a new file on a reused inode) starts over
 * instead of resuming mid-content. Entries written before fingerprints existed resume on inode and size alone.
 *
 * The file is replaced atomically (write a temporary file of this run's own, then rename), so a kill mid-write
 * leaves the previous checkpoint; one run at a time holds it (checkpoint-lock.ts), and `open` proves it can be
 * written before the run sends anything, so a bad path fails at once instead of after the first stored batch.
 * A checkpoint written for another target (service URL, --router set) is not used: its offsets mean nothing there.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { CheckpointLock } from "./checkpoint-lock.js";
import { matches, type Fingerprint } from "./fingerprint.js";

export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
}

export interface CheckpointEntry extends FileIdentity {
  readonly gzip: boolean;
  /** Byte offset (decompressed for gzip) past the last acknowledged line. */
  readonly offset: number;
  /** Lines before `offset`, so line numbers in reports stay right after a resume. */
  readonly lines: number;
  /** Plain files: the first bytes' fingerprint (absent in checkpoints written before it existed). */
  readonly head?: Fingerprint;
}

/** A file as it is now: identity and (plain files) its first bytes, to check the entry's fingerprint. */
export interface FileNow extends FileIdentity {
  readonly head?: Buffer;
}

interface CheckpointData {
  readonly version: 1;
  readonly target: string;
  readonly inputs: Record<string, CheckpointEntry>;
}

export interface ResumePoint {
  readonly offset: number;
  readonly lines: number;
  /** Why it starts there, for the run's report. */
  readonly note: string;
}

const FROM_START = (note: string): ResumePoint => ({ offset: 0, lines: 0, note });

/** Where to start reading `path` given the checkpoint's entries and the file as it is now. */
export function resumePoint(entries: Readonly<Record<string, CheckpointEntry>>, path: string, now: FileNow, gzip: boolean): ResumePoint {
  const sameContent = (e: CheckpointEntry) => e.head === undefined || now.head === undefined || matches(e.head, now.head);
  const sameInode = (e: CheckpointEntry) => e.dev === now.dev && e.ino === now.ino;
  // A reused inode under another name is not the file that was read: the fingerprint tells them apart.
  const same = (e: CheckpointEntry) => sameInode(e) && sameContent(e);
  let entry = entries[path];
  let renamedFrom: string | undefined;
  if (entry === undefined || !same(entry)) {
    // Rotation renames the file it was reading (tracking.log -> tracking.log.1): same inode, new path.
    const found = Object.entries(entries).find(([p, e]) => p !== path && same(e) && !e.gzip && !gzip);
    if (found) [renamedFrom, entry] = found;
  }
  if (entry === undefined) return FROM_START("new input");
  if (!sameInode(entry)) return FROM_START("replaced since the checkpoint (another inode)");
  if (gzip || entry.gzip) {
    if (gzip !== entry.gzip || now.size !== entry.size) return FROM_START("gzip file changed since the checkpoint");
    return { offset: entry.offset, lines: entry.lines, note: `resumed at decompressed byte ${entry.offset} (re-read from the start)` };
  }
  if (now.size < entry.offset) return FROM_START("truncated since the checkpoint");
  if (!sameContent(entry)) return FROM_START("content changed since the checkpoint (copytruncate, or rewritten)");
  return { offset: entry.offset, lines: entry.lines, note: `resumed at byte ${entry.offset}${renamedFrom ? ` (was ${renamedFrom})` : ""}` };
}

/** The checkpoint file: locked and loaded once, updated in memory as batches are acknowledged, saved atomically. */
export class Checkpoint {
  private readonly tmp: string;

  private constructor(
    private readonly file: string,
    private readonly target: string,
    private readonly inputs: Record<string, CheckpointEntry>,
    private readonly lock: CheckpointLock,
    /** Why an existing file was not used, if so. */
    readonly ignoredReason: string | undefined,
  ) {
    // This run's own temporary name: a run that lost the lock race, or a stray one, cannot write over it.
    this.tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  }

  /**
   * Creates the directory, takes the lock, loads the file and proves a save will work (a temporary file is
   * written and removed), all before the run sends anything. Throws with the path and what to do instead.
   */
  static open(
    file: string,
    target: string,
    advice = "pass --checkpoint with a path in a writable directory, or --no-checkpoint",
  ): Checkpoint {
    const cannot = (e: unknown): Error => new Error(`checkpoint ${file} cannot be written (${(e as Error).message}): ${advice}`);
    try {
      mkdirSync(dirname(file), { recursive: true });
    } catch (e) {
      throw cannot(e);
    }
    let lock: CheckpointLock;
    try {
      lock = CheckpointLock.acquire(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === undefined) throw e;
      throw cannot(e);
    }
    try {
      const checkpoint = Checkpoint.load(file, target, lock);
      try {
        writeFileSync(checkpoint.tmp, "");
        rmSync(checkpoint.tmp);
      } catch (e) {
        throw cannot(e);
      }
      return checkpoint;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  private static load(file: string, target: string, lock: CheckpointLock): Checkpoint {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return new Checkpoint(file, target, {}, lock, undefined);
      throw e;
    }
    let data: CheckpointData;
    try {
      data = JSON.parse(text) as CheckpointData;
    } catch {
      throw new Error(`${file}: not a replay checkpoint (invalid JSON); remove it or pass another --checkpoint`);
    }
    if (data.version !== 1 || typeof data.inputs !== "object")
      throw new Error(`${file}: not a replay checkpoint (version ${String(data.version)})`);
    if (data.target !== target) return new Checkpoint(file, target, {}, lock, `written for ${data.target}, not ${target}: starting over`);
    return new Checkpoint(file, target, { ...data.inputs }, lock, undefined);
  }

  get path(): string {
    return this.file;
  }

  get entries(): Readonly<Record<string, CheckpointEntry>> {
    return this.inputs;
  }

  set(path: string, entry: CheckpointEntry): void {
    this.inputs[path] = entry;
  }

  save(): void {
    const data: CheckpointData = { version: 1, target: this.target, inputs: this.inputs };
    writeFileSync(this.tmp, `${JSON.stringify(data, null, 1)}\n`);
    renameSync(this.tmp, this.file);
  }

  /** Lets the next run have it. */
  close(): void {
    this.lock.release();
  }
}

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
 * The file is replaced atomically (write, then rename), so a kill mid-write leaves the previous checkpoint.
 * A checkpoint written for another target (service URL, --router set) is not used: its offsets mean nothing there.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";

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
export function resumePoint(
  entries: Readonly<Record<string, CheckpointEntry>>,
  path: string,
  now: FileIdentity,
  gzip: boolean,
): ResumePoint {
  const same = (e: CheckpointEntry) => e.dev === now.dev && e.ino === now.ino;
  let entry = entries[path];
  let renamedFrom: string | undefined;
  if (entry === undefined || !same(entry)) {
    // Rotation renames the file it was reading (tracking.log -> tracking.log.1): same inode, new path.
    const found = Object.entries(entries).find(([p, e]) => p !== path && same(e) && !e.gzip && !gzip);
    if (found) [renamedFrom, entry] = found;
  }
  if (entry === undefined) return FROM_START("new input");
  if (!same(entry)) return FROM_START("replaced since the checkpoint (another inode)");
  if (gzip || entry.gzip) {
    if (gzip !== entry.gzip || now.size !== entry.size) return FROM_START("gzip file changed since the checkpoint");
    return { offset: entry.offset, lines: entry.lines, note: `resumed at decompressed byte ${entry.offset} (re-read from the start)` };
  }
  if (now.size < entry.offset) return FROM_START("truncated since the checkpoint");
  return { offset: entry.offset, lines: entry.lines, note: `resumed at byte ${entry.offset}${renamedFrom ? ` (was ${renamedFrom})` : ""}` };
}

/** The checkpoint file: loaded once, updated in memory as batches are acknowledged, saved atomically. */
export class Checkpoint {
  private constructor(
    private readonly file: string,
    private readonly target: string,
    private readonly inputs: Record<string, CheckpointEntry>,
    /** Why an existing file was not used, if so. */
    readonly ignoredReason: string | undefined,
  ) {}

  static load(file: string, target: string): Checkpoint {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return new Checkpoint(file, target, {}, undefined);
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
    if (data.target !== target) return new Checkpoint(file, target, {}, `written for ${data.target}, not ${target}: starting over`);
    return new Checkpoint(file, target, { ...data.inputs }, undefined);
  }

  get entries(): Readonly<Record<string, CheckpointEntry>> {
    return this.inputs;
  }

  set(path: string, entry: CheckpointEntry): void {
    this.inputs[path] = entry;
  }

  save(): void {
    const data: CheckpointData = { version: 1, target: this.target, inputs: this.inputs };
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(data, null, 1)}\n`);
    renameSync(tmp, this.file);
  }
}

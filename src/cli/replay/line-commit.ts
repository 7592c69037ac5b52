/**
 * What happens to a batch once the service settled it, line by line and in the order read: the tally counts it, an
 * invalid line is reported with its file:line, --output gets its statements, and the checkpoint moves past it. The
 * checkpoint only ever holds acknowledged offsets, and never passes a plain file's unterminated last line, which
 * may still be being written.
 */
import type { Writable } from "node:stream";
import type { BatchLine } from "./batch-sender.js";
import type { Checkpoint } from "./checkpoint.js";
import { displayPath, type InputFile } from "./inputs.js";
import type { LineOutcome } from "./line-outcome.js";
import type { SourceLine } from "./line-sources.js";
import type { Progress } from "./progress.js";
import type { Tally } from "./summary.js";

export interface LineMeta {
  /** The file read (a rotated input's old file is read under its input's key). */
  readonly input: InputFile;
  /** The input's checkpoint key. */
  readonly key: string;
  readonly line: SourceLine;
}

export type Commit = (lines: readonly BatchLine<LineMeta>[], outcomes: readonly (LineOutcome | undefined)[]) => void;

export interface CommitTargets {
  readonly tally: Tally;
  readonly progress: Progress;
  readonly output: Writable | undefined;
  readonly checkpoint: Checkpoint | undefined;
  /** Each checkpoint key's starting offset, so the progress counts only the bytes read in this run. */
  readonly startOffsets: ReadonlyMap<string, number>;
}

/**
 * The service names the request field (events[i].json for a batch, event.json for Transform); in a line report
 * the file:line says where, so every mode reports a line in the same words.
 */
const lineReason = (reason: string) => reason.replace(/^(events\[\d+\]|event)\.json: /, "");

export function createCommit(targets: CommitTargets): Commit {
  const { tally, progress, output, checkpoint } = targets;
  let bytesDone = 0;
  const lastOffset = new Map(targets.startOffsets);

  /** Counts and reports the line's outcome, and writes its statements to --output. */
  const record = (where: string, outcome: LineOutcome | undefined): void => {
    tally.add(outcome);
    if (outcome?.outcome === "invalid") progress.log(`${where}: ${lineReason(outcome.reason)}\n`);
    if (output && outcome?.output) {
      for (const o of outcome.output) {
        const line = { input: where, backend: o.backend, event_name: outcome.name, router_ids: o.routerIds, statement: o.statement };
        output.write(`${JSON.stringify(line)}\n`);
      }
    }
  };

  /** Moves the checkpoint past the line; false when the line has no file identity to checkpoint. */
  const advance = ({ input, key, line }: LineMeta, where: string): boolean => {
    const { identity } = line;
    if (identity === undefined) return false;
    const before = lastOffset.get(key) ?? 0;
    bytesDone += line.endOffset > before ? line.endOffset - before : line.endOffset;
    lastOffset.set(key, line.endOffset);
    // A plain file's last line without a newline may still be being written: it was sent as it is, but the
    // checkpoint stays before it, so the next run reads it again whole (its statements de-duplicate).
    const held = line.unterminated === true && !input.gzip;
    if (held && checkpoint)
      progress.log(`${where}: no newline at the end: the checkpoint stays before this line, the next run reads it again\n`);
    const offset = held ? line.startOffset : line.endOffset;
    const lines = held ? line.lineNo - 1 : line.lineNo;
    const head = line.head?.fingerprint(offset);
    checkpoint?.set(key, { ...identity, gzip: input.gzip, offset, lines, ...(head ? { head } : {}) });
    return true;
  };

  return (lines, outcomes) => {
    let touched = false;
    lines.forEach(({ meta }, i) => {
      const where = `${displayPath(meta.input.path)}:${meta.line.lineNo}`;
      record(where, outcomes[i]);
      if (advance(meta, where)) touched = true;
    });
    if (touched) checkpoint?.save();
    progress.update(bytesDone);
  };
}

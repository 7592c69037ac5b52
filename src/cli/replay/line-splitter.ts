/**
 * Splits a byte stream into lines, keeping the byte offset just past each line's newline: the checkpoint stores
 * that offset, so a resumed run starts exactly at the next unread line. Bytes, not characters, because a file is
 * reopened at a byte position. A line longer than `maxLineBytes` is not buffered (constant memory whatever the
 * input): it is reported as `tooLong` with its first bytes and the rest is dropped up to its newline. Pure.
 */

export interface LogLine {
  /** The line without its newline (and without a trailing \r). */
  readonly text: string;
  /** 1-based line number in its input. */
  readonly lineNo: number;
  /** Byte offset where the line starts. */
  readonly startOffset: number;
  /** Byte offset just past this line's newline (or past its last byte at the end of the input). */
  readonly endOffset: number;
  /**
   * The input ended without a newline after this line. In a live log that is a line still being written: its
   * offset must never be checkpointed (a resumed run would start mid-line), the next run reads it again whole.
   */
  readonly unterminated?: boolean;
  /** Longer than the limit: `text` holds only its first bytes. */
  readonly tooLong?: boolean;
}

const NEWLINE = 0x0a;

export class LineSplitter {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private overflow = false;
  private lineStartOffset: number;

  constructor(
    private offset: number,
    private lineNo: number,
    private readonly maxLineBytes: number,
  ) {
    this.lineStartOffset = offset;
  }

  /** The complete lines in this chunk (a partial last line waits for the next chunk or `end`). */
  push(chunk: Buffer): LogLine[] {
    const lines: LogLine[] = [];
    let from = 0;
    while (from < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, from);
      const to = nl < 0 ? chunk.length : nl;
      this.append(chunk.subarray(from, to));
      this.offset += to - from;
      if (nl < 0) break;
      this.offset += 1;
      lines.push(this.take());
      from = nl + 1;
    }
    return lines;
  }

  /** The last line when the input does not end with a newline. */
  end(): LogLine | undefined {
    if (this.offset === this.lineStartOffset) return undefined;
    return { ...this.take(), unterminated: true };
  }

  /** Bytes of the partial line held (follow mode waits for its newline). */
  get pendingBytes(): number {
    return this.offset - this.lineStartOffset;
  }

  private append(bytes: Buffer): void {
    if (this.overflow || bytes.length === 0) return;
    const room = this.maxLineBytes - this.partBytes;
    if (bytes.length > room) {
      this.parts.push(Buffer.from(bytes.subarray(0, Math.max(room, 0))));
      this.overflow = true;
      return;
    }
    // Copied: the reader may reuse its buffer for the next chunk.
    this.parts.push(Buffer.from(bytes));
    this.partBytes += bytes.length;
  }

  private take(): LogLine {
    let text = Buffer.concat(this.parts).toString("utf8");
    if (text.endsWith("\r")) text = text.slice(0, -1);
    this.lineNo += 1;
    const line: LogLine = {
      text,
      lineNo: this.lineNo,
      startOffset: this.lineStartOffset,
      endOffset: this.offset,
      ...(this.overflow ? { tooLong: true } : {}),
    };
    this.parts = [];
    this.partBytes = 0;
    this.overflow = false;
    this.lineStartOffset = this.offset;
    return line;
  }
}

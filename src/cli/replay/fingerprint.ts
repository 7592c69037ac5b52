/**
 * A file's fingerprint: the SHA-256 of its first bytes (at most FINGERPRINT_BYTES, and never past the checkpoint's
 * offset), kept with the checkpoint as log shippers do (Filebeat's fingerprint, Vector's checksum). Device and
 * inode alone do not say "the same content": `copytruncate` rotation empties the file in place (same inode) and a
 * regrown file passes the size check, and a deleted file's inode is reused by the next one. Tracking-log lines
 * start with their own timestamp, so a rewritten file differs in its first bytes.
 */
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";

export const FINGERPRINT_BYTES = 1024;

export interface Fingerprint {
  /** How many leading bytes were hashed (less than FINGERPRINT_BYTES for a short file or an early offset). */
  readonly bytes: number;
  readonly sha256: string;
}

/** Pure: the fingerprint of the first `upTo` bytes of `head` (the file's first bytes). */
export function fingerprintOf(head: Buffer, upTo: number): Fingerprint {
  const bytes = Math.min(upTo, head.length, FINGERPRINT_BYTES);
  return { bytes, sha256: createHash("sha256").update(head.subarray(0, bytes)).digest("hex") };
}

/** Whether a file whose first bytes are `head` still starts as the fingerprinted one did. */
export function matches(fp: Fingerprint, head: Buffer): boolean {
  return head.length >= fp.bytes && fingerprintOf(head, fp.bytes).sha256 === fp.sha256;
}

/** Reads a file's first bytes (at most FINGERPRINT_BYTES). */
export async function readHead(fh: FileHandle, upTo = FINGERPRINT_BYTES): Promise<Buffer> {
  const buf = Buffer.alloc(Math.min(upTo, FINGERPRINT_BYTES));
  const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
  return buf.subarray(0, bytesRead);
}

/**
 * The first bytes of a file as its reader goes through it, so a commit can fingerprint up to its offset without
 * reading the file again (by then the path may name another file). Bytes before `filled` never change.
 */
export class FileHead {
  private readonly buf = Buffer.alloc(FINGERPRINT_BYTES);
  private filled = 0;

  constructor(initial?: Buffer) {
    if (initial) this.observe(0, initial);
  }

  /** Bytes read at `position`. */
  observe(position: number, bytes: Buffer): void {
    if (position > this.filled || this.filled >= FINGERPRINT_BYTES) return;
    const from = this.filled - position;
    if (from >= bytes.length) return;
    this.filled += bytes.copy(this.buf, this.filled, from);
  }

  /** Bytes known so far. */
  get size(): number {
    return this.filled;
  }

  /** Whether `first` (the file's first bytes now) begins with the bytes known. */
  startsLike(first: Buffer): boolean {
    return first.length >= this.filled && first.subarray(0, this.filled).equals(this.buf.subarray(0, this.filled));
  }

  fingerprint(upTo: number): Fingerprint {
    return fingerprintOf(this.buf.subarray(0, this.filled), upTo);
  }
}

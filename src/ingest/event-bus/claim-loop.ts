/**
 * Takes over entries that another consumer of the group read and never acknowledged (it crashed, or was
 * stopped mid-batch) once they have been idle for `minIdleMs`: XAUTOCLAIM sweeps the whole pending list, a
 * batch at a time, every `intervalMs`, and hands what it claimed to the same processing as fresh reads.
 *
 * The idle time is the safety margin: an entry still being stored by a live but slow instance may be claimed
 * too, and is then stored twice; JetStream de-duplicates the statements (same Nats-Msg-Id), so the price is
 * work, not duplicates. Entries this instance is itself working on are left alone (claiming them only resets
 * their idle time).
 */
import { sleep } from "../../backoff.js";
import type { RedisStream, StreamEntry } from "./redis-stream.js";

export interface ClaimLoopOptions {
  readonly minIdleMs: number;
  readonly intervalMs: number;
  readonly count: number;
  readonly signal: AbortSignal;
  /** Ids being processed here right now. */
  readonly inFlight: ReadonlySet<string>;
  onClaimed(entries: StreamEntry[]): Promise<void>;
  /** Pending ids whose entries were deleted from the stream (Redis removed them from the pending list). */
  onDeleted(ids: string[]): void;
}

/** Runs until the signal aborts; rejects on a Redis error (the caller's session ends and reconnects). */
export async function runClaimLoop(stream: RedisStream, o: ClaimLoopOptions): Promise<void> {
  while (!o.signal.aborted) {
    let cursor = "0-0";
    do {
      const { next, entries, deleted } = await stream.autoClaim(o.minIdleMs, cursor, o.count);
      if (deleted.length > 0) o.onDeleted(deleted);
      const mine = entries.filter((e) => !o.inFlight.has(e.id));
      if (mine.length > 0) await o.onClaimed(mine);
      cursor = next;
    } while (cursor !== "0-0" && !o.signal.aborted);
    await sleep(o.intervalMs, o.signal);
  }
}

/**
 * RetryFailed and PurgeFailed: the order of steps that makes them safe, over the store's primitives (FailedOps).
 *
 * Retry re-publishes an entry to its router's delivery subject and deletes it from the failed stream only once
 * the publish is stored: a crash or NATS outage in between leaves the entry in place, and calling again is
 * de-duplicated by the retry copy's msg id (failed-codec.ts). Entries of deleted routers stay: re-publishing
 * would park them where no consumer reads.
 *
 * Bounds: a filter walks only up to the failed stream's last sequence read when the call began (see
 * failed-query.ts), so a statement that fails again during the call is not retried twice in it. The caller's
 * signal is checked between entries; an entry is never left half done by it.
 *
 * A call that cannot finish (signal, NATS failure) throws IncompleteError with what it did so far, so the
 * caller can answer an error that says how far it got instead of a success that claims too much or too little.
 */
import type { NatsNames } from "../../nats/names.js";
import type { FailedEntry } from "./failed-codec.js";
import {
  isEmptyQuery,
  isRouterOnly,
  querySubject,
  walk,
  WalkAbortedError,
  type FailedReader,
  type FailedSelection,
} from "./failed-query.js";

export interface FailedOps extends FailedReader {
  /** The entry with this id, or null when there is none. */
  get(id: number): Promise<FailedEntry | null>;
  /** Sequence of the newest entry ever stored (0 for a new stream). */
  lastSeq(): Promise<number>;
  /** Publishes the entry's retry copy to the delivery stream; resolves once JetStream stored it. */
  republish(entry: FailedEntry): Promise<void>;
  /** Deletes an entry; false when it is gone already (another call retried or purged it). */
  remove(id: number): Promise<boolean>;
  /** Purges every entry up to and including `lastSeq`, only on `subject` when given; returns how many. */
  purgeUpTo(lastSeq: number, subject?: string): Promise<number>;
  routerExists(routerId: string): boolean;
}

export interface RetryOutcome {
  retried: number;
  notFound: number[];
  /** Kept because their router no longer exists. */
  noRouter: number[];
}

export interface PurgeOutcome {
  purged: number;
  notFound: number[];
}

/** The call stopped before the end; `progress` is what was done, `cause` why it stopped. */
export class IncompleteError<P> extends Error {
  override name = "IncompleteError";
  constructor(
    readonly progress: P,
    override readonly cause: unknown,
  ) {
    super(`stopped early: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

interface Selected {
  readonly id: number;
  readonly entry: FailedEntry | null;
}

async function* selected(ops: FailedOps, names: NatsNames, sel: FailedSelection, signal?: AbortSignal): AsyncGenerator<Selected> {
  if ("ids" in sel) {
    for (const id of sel.ids) {
      if (signal?.aborted) throw new WalkAbortedError("aborted");
      yield { id, entry: await ops.get(id) };
    }
    return;
  }
  const lastSeq = await ops.lastSeq();
  const walked = walk(ops, querySubject(names, sel.query), sel.query, { lastSeq, ...(signal ? { signal } : {}) });
  for await (const entry of walked) yield { id: entry.id, entry };
}

export async function retryFailed(ops: FailedOps, names: NatsNames, sel: FailedSelection, signal?: AbortSignal): Promise<RetryOutcome> {
  const out: RetryOutcome = { retried: 0, notFound: [], noRouter: [] };
  try {
    for await (const { id, entry } of selected(ops, names, sel, signal)) {
      if (!entry) out.notFound.push(id);
      else if (!ops.routerExists(entry.routerId)) out.noRouter.push(id);
      else {
        await ops.republish(entry);
        // Gone already: a concurrent call removed it after we read it; our copy is delivered all the same.
        await ops.remove(id);
        out.retried++;
      }
    }
  } catch (e) {
    throw new IncompleteError(out, e);
  }
  return out;
}

export async function purgeFailed(ops: FailedOps, names: NatsNames, sel: FailedSelection, signal?: AbortSignal): Promise<PurgeOutcome> {
  const out: PurgeOutcome = { purged: 0, notFound: [] };
  try {
    // Everything, or one router's everything: one purge request instead of a walk, bounded the same way.
    if (!("ids" in sel) && (isEmptyQuery(sel.query) || isRouterOnly(sel.query))) {
      const lastSeq = await ops.lastSeq();
      if (signal?.aborted) throw new WalkAbortedError("aborted");
      out.purged =
        lastSeq === 0 ? 0 : await ops.purgeUpTo(lastSeq, sel.query.routerId ? names.failedSubject(sel.query.routerId) : undefined);
      return out;
    }
    for await (const { id, entry } of selected(ops, names, sel, signal)) {
      if (entry && (await ops.remove(id))) out.purged++;
      else out.notFound.push(id);
    }
  } catch (e) {
    throw new IncompleteError(out, e);
  }
  return out;
}

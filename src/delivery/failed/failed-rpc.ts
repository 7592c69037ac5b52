/**
 * ListFailed / RetryFailed / PurgeFailed over the FailedStore. Transport-free: the EventRoutingService
 * implementation checks the admin token and maps errors (ValidationError -> InvalidArgument, etc.).
 *
 * A call that cannot finish answers an error, never a partial success: NATS failing -> UnavailableError, the
 * caller's deadline passing -> DeadlineExceededError, the call cancelled (client gone, server shutting down) ->
 * CanceledError. For RetryFailed / PurgeFailed the message says how many entries were done before it stopped;
 * the rest are untouched, and calling again is safe.
 */
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  FailedStatementSchema,
  ListFailedResponseSchema,
  PurgeFailedResponseSchema,
  RetryFailedResponseSchema,
  type FailedFilter,
  type FailedStatement,
  type ListFailedRequest,
  type ListFailedResponse,
  type PurgeFailedRequest,
  type PurgeFailedResponse,
  type RetryFailedRequest,
  type RetryFailedResponse,
} from "../../../gen/eventrouting/v1/event_routing_service_pb.js";
import type { Logger } from "pino";
import { CanceledError, DeadlineExceededError, UnavailableError, ValidationError } from "../../errors.js";
import { ROUTER_ID_PATTERN } from "../../nats/names.js";
import type { JsonObject } from "../../transform/edx-event.js";
import type { FailedEntry } from "./failed-codec.js";
import { isEmptyQuery, WalkAbortedError, type FailedQuery, type FailedSelection } from "./failed-query.js";
import { IncompleteError } from "./failed-retry.js";
import type { FailedStore } from "./failed-store.js";

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
const TOKEN_PREFIX = "f1:";

export function encodePageToken(seq: number): string {
  return Buffer.from(`${TOKEN_PREFIX}${seq}`, "utf8").toString("base64url");
}

export function decodePageToken(token: string): number {
  if (token === "") return 1;
  const raw = Buffer.from(token, "base64url").toString("utf8");
  const m = raw.startsWith(TOKEN_PREFIX) ? /^\d{1,15}$/.exec(raw.slice(TOKEN_PREFIX.length)) : null;
  const seq = m ? Number(m[0]) : NaN;
  if (!Number.isSafeInteger(seq) || seq < 1) throw new ValidationError("page_token", "not a token returned by ListFailed");
  return seq;
}

function tsDate(t: Timestamp | undefined): Date | undefined {
  return t ? timestampDate(t) : undefined;
}

/** Validates a FailedFilter; the router id names a subject, so it must be a valid id. */
export function toQuery(f: FailedFilter | undefined, field = "filter"): FailedQuery {
  if (!f) return {};
  if (f.routerId && !ROUTER_ID_PATTERN.test(f.routerId)) throw new ValidationError(`${field}.router_id`, "not a valid router id");
  const startTime = tsDate(f.startTime);
  const endTime = tsDate(f.endTime);
  if (startTime && endTime && startTime >= endTime) throw new ValidationError(`${field}.end_time`, "must be after start_time");
  return {
    ...(f.routerId ? { routerId: f.routerId } : {}),
    ...(f.eventName ? { eventName: f.eventName } : {}),
    ...(startTime ? { startTime } : {}),
    ...(endTime ? { endTime } : {}),
  };
}

/** ids, or a non-empty filter, or all = true (alone or with a filter). Refuses an accidental "everything". */
export function toSelection(req: { ids: readonly bigint[]; filter?: FailedFilter | undefined; all: boolean }): FailedSelection {
  const query = toQuery(req.filter);
  if (req.ids.length > 0) {
    if (!isEmptyQuery(query) || req.all) throw new ValidationError("ids", "give either ids or a filter / all, not both");
    for (const [i, id] of req.ids.entries()) {
      if (id < 1n || id > BigInt(Number.MAX_SAFE_INTEGER)) throw new ValidationError(`ids[${i}]`, "not a failed statement id");
    }
    return { ids: req.ids.map((id) => Number(id)) };
  }
  if (isEmptyQuery(query) && !req.all) throw new ValidationError("filter", "give ids, a filter, or all = true");
  return { query };
}

export function toFailedStatement(e: FailedEntry): FailedStatement {
  let statement: JsonObject | undefined;
  try {
    statement = JSON.parse(e.body) as JsonObject;
  } catch {
    statement = undefined;
  }
  return create(FailedStatementSchema, {
    id: BigInt(e.id),
    routerId: e.routerId,
    eventName: e.eventName,
    statementId: e.statementId,
    attempts: e.attempts,
    lastHttpStatus: e.lastHttpStatus,
    lastError: e.lastError,
    firstAttemptTime: timestampFromDate(e.firstAttemptTime),
    lastAttemptTime: timestampFromDate(e.lastAttemptTime),
    failedTime: timestampFromDate(e.failedTime),
    ...(statement ? { statement } : {}),
  });
}

/** What the handlers use of Connect's HandlerContext (structurally the same, so this file needs no Connect). */
export interface CallContext {
  readonly signal: AbortSignal;
  /** Milliseconds left until the caller's deadline; undefined without one. */
  timeoutMs(): number | undefined;
}

const NO_CALL: CallContext = { signal: new AbortController().signal, timeoutMs: () => undefined };

/** Timers and Date.now may disagree by a millisecond or so: an abort this close to the deadline is the deadline. */
const DEADLINE_SLACK_MS = 10;

/**
 * The error a call that stopped early answers, saying what it had done (e.g. "3 re-published for delivery").
 * Aborts become DeadlineExceeded when the deadline has passed, Canceled otherwise; anything that is not a
 * stop (a bug) is passed on unchanged.
 */
export function stoppedError(rpc: string, e: unknown, ctx: CallContext): unknown {
  const progress = e instanceof IncompleteError ? describe(e.progress as Progress) : undefined;
  const cause = e instanceof IncompleteError ? e.cause : e;
  const after = progress === undefined ? "" : ` after ${progress}; the rest are still stored and calling again is safe`;
  if (cause instanceof WalkAbortedError) {
    const left = ctx.timeoutMs();
    if (left !== undefined && left <= DEADLINE_SLACK_MS) return new DeadlineExceededError(`${rpc} reached the deadline${after}`);
    return new CanceledError(`${rpc} was cancelled${after}`);
  }
  if (cause instanceof UnavailableError)
    return new UnavailableError(`${cause.message}${progress === undefined ? "" : ` (${rpc} stopped${after})`}`, { cause });
  return cause;
}

type Progress = { retried: number; notFound: number[] } | { purged: number; notFound: number[] };

function describe(p: Progress): string {
  const done = "retried" in p ? `${p.retried} re-published for delivery` : `${p.purged} purged`;
  return p.notFound.length > 0 ? `${done} and ${p.notFound.length} not found` : done;
}

export interface FailedRpc {
  listFailed(req: ListFailedRequest, ctx?: CallContext): Promise<ListFailedResponse>;
  retryFailed(req: RetryFailedRequest, ctx?: CallContext): Promise<RetryFailedResponse>;
  purgeFailed(req: PurgeFailedRequest, ctx?: CallContext): Promise<PurgeFailedResponse>;
}

export function createFailedRpc(store: FailedStore, opts: { logger?: Logger } = {}): FailedRpc {
  return {
    async listFailed(req, ctx = NO_CALL) {
      const query = toQuery(req.filter);
      const from = decodePageToken(req.pageToken);
      const size = req.pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(req.pageSize, MAX_PAGE_SIZE);
      const page = await store.list(query, size, from, ctx.signal).catch((e: unknown) => {
        throw stoppedError("ListFailed", e, ctx);
      });
      return create(ListFailedResponseSchema, {
        failed: page.entries.map(toFailedStatement),
        nextPageToken: page.nextSeq === undefined ? "" : encodePageToken(page.nextSeq),
      });
    },
    async retryFailed(req, ctx = NO_CALL) {
      const r = await store.retry(toSelection(req), ctx.signal).catch((e: unknown) => {
        throw stoppedError("RetryFailed", e, ctx);
      });
      // Entries of deleted routers stay in the failed stream (nothing would deliver them); the response has no
      // field for them, so they are neither retried nor not_found, and a warning names them.
      if (r.noRouter.length > 0)
        opts.logger?.warn({ ids: r.noRouter }, "RetryFailed skipped statements of deleted routers; purge them or recreate the router");
      return create(RetryFailedResponseSchema, { retried: r.retried, notFound: r.notFound.map((n) => BigInt(n)) });
    },
    async purgeFailed(req, ctx = NO_CALL) {
      const r = await store.purge(toSelection(req), ctx.signal).catch((e: unknown) => {
        throw stoppedError("PurgeFailed", e, ctx);
      });
      return create(PurgeFailedResponseSchema, { purged: r.purged, notFound: r.notFound.map((n) => BigInt(n)) });
    },
  };
}

/**
 * IngestAdminService: the inputs' counters and backlog (GetIngestStatus), and the rejected stream they feed
 * (ListRejected, PurgeRejected; rejected-stream.ts does the NATS side). Admin-only (auth.ts: unlisted RPCs
 * need admin). Counters are this instance's since it started; backlog numbers come from Redis and JetStream
 * and are shared by every instance (`backlog_unknown` when they could not be read). An input that is not
 * configured is listed as DISABLED, so an operator sees at once whether this instance reads from Redis at all.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ValidationError } from "../errors.js";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  GetIngestStatusResponseSchema,
  type IngestAdminService,
  IngestInputKind,
  IngestInputState,
  IngestInputStatusSchema,
  ListRejectedResponseSchema,
  OutcomeCountSchema,
  PurgeRejectedResponseSchema,
  RejectedEntrySchema,
  type IngestInputStatus,
  type RejectedEntry as RejectedEntryMessage,
} from "../../gen/eventrouting/v1/ingest_admin_service_pb.js";
import type { InputStats } from "../ingest/ingest-stats.js";
import {
  decodeRejectedPageToken,
  encodeRejectedPageToken,
  pageSizeOf,
  parseSource,
  type RejectedEntry,
  type RejectedStream,
} from "../ingest/rejected-stream.js";

/** What an input reports; implemented by EventBusConsumer and NatsIngest. */
export interface StatusSource {
  status(): Promise<{
    readonly serving: boolean;
    readonly source: string;
    readonly stats: InputStats;
    readonly backlog: { readonly pending: number; readonly lag: number | undefined } | undefined;
  }>;
}

export interface IngestAdminDeps {
  readonly eventBus: StatusSource | undefined;
  readonly natsIngest: StatusSource | undefined;
  readonly rejected: RejectedStream;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The input as text when it is UTF-8 (a Redis entry's JSON copy always is), as bytes otherwise: nothing lost. */
export function toRejectedMessage(e: RejectedEntry): RejectedEntryMessage {
  let input: RejectedEntryMessage["input"];
  try {
    input = { case: "inputText", value: utf8.decode(e.body) };
  } catch {
    input = { case: "inputBytes", value: e.body };
  }
  return create(RejectedEntrySchema, {
    id: BigInt(e.id),
    source: e.source,
    origin: e.origin,
    sourceId: e.sourceId,
    reason: e.reason,
    rejectedTime: timestampFromDate(e.time),
    input,
    originalSize: BigInt(e.originalSize ?? 0),
  });
}

async function inputStatus(kind: IngestInputKind, input: StatusSource | undefined): Promise<IngestInputStatus> {
  if (!input) return create(IngestInputStatusSchema, { kind, state: IngestInputState.DISABLED });
  const s = await input.status();
  const st = s.stats;
  return create(IngestInputStatusSchema, {
    kind,
    state: s.serving ? IngestInputState.SERVING : IngestInputState.NOT_SERVING,
    source: s.source,
    entriesRead: BigInt(st.entriesRead),
    outcomes: [...st.outcomes]
      .sort(([a], [b]) => a - b)
      .map(([outcome, count]) => create(OutcomeCountSchema, { outcome, count: BigInt(count) })),
    statementsStored: BigInt(st.statementsStored),
    statementsDuplicate: BigInt(st.statementsDuplicate),
    skippedOtherType: BigInt(st.skippedOtherType),
    rejected: BigInt(st.rejected),
    trimmed: BigInt(st.trimmed),
    pending: BigInt(s.backlog?.pending ?? 0),
    ...(s.backlog?.lag !== undefined ? { lag: BigInt(s.backlog.lag) } : {}),
    // An unread backlog is unknown, never "0 pending" (the Redis or NATS source being down is when it matters).
    backlogUnknown: s.backlog === undefined,
    lastError: st.lastError,
    ...(st.lastErrorTime ? { lastErrorTime: timestampFromDate(st.lastErrorTime) } : {}),
    ...(st.lastSuccessTime ? { lastSuccessTime: timestampFromDate(st.lastSuccessTime) } : {}),
  });
}

export function createIngestAdminService(deps: IngestAdminDeps): ServiceImpl<typeof IngestAdminService> {
  return {
    async getIngestStatus() {
      const inputs = await Promise.all([
        inputStatus(IngestInputKind.EVENT_BUS_REDIS, deps.eventBus),
        inputStatus(IngestInputKind.NATS, deps.natsIngest),
      ]);
      return create(GetIngestStatusResponseSchema, { inputs });
    },
    async listRejected(req) {
      const source = parseSource(req.source);
      const fromSeq = decodeRejectedPageToken(req.pageToken);
      const page = await deps.rejected.list(source, pageSizeOf(req.pageSize), fromSeq);
      return create(ListRejectedResponseSchema, {
        rejected: page.entries.map(toRejectedMessage),
        nextPageToken: page.nextSeq === undefined ? "" : encodeRejectedPageToken(page.nextSeq),
      });
    },
    async purgeRejected(req) {
      // An empty request must not mean "everything": all = true says so, and ids and all do not mix.
      if (req.ids.length > 0 && req.all) throw new ValidationError("ids", "give either ids or all = true, not both");
      if (req.ids.length === 0 && !req.all) throw new ValidationError("ids", "give the ids to purge, or all = true");
      if (req.all) return create(PurgeRejectedResponseSchema, { purged: await deps.rejected.purgeAll() });
      const ids = req.ids.map((id, i) => {
        if (id < 1n || id > BigInt(Number.MAX_SAFE_INTEGER)) throw new ValidationError(`ids[${i}]`, "not a rejected entry id");
        return Number(id);
      });
      const r = await deps.rejected.purgeIds(ids);
      return create(PurgeRejectedResponseSchema, { purged: r.purged, notFound: r.notFound.map((n) => BigInt(n)) });
    },
  };
}

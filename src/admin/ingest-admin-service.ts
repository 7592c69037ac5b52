/**
 * IngestAdminService: the inputs' counters and backlog (GetIngestStatus). Admin-only (auth.ts: unlisted RPCs
 * need admin). Counters are this instance's since it started; backlog numbers come from Redis and JetStream
 * and are shared by every instance (`backlog_unknown` when they could not be read). An input that is not
 * configured is listed as DISABLED, so an operator sees at once whether this instance reads from Redis at all.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  GetIngestStatusResponseSchema,
  type IngestAdminService,
  IngestInputKind,
  IngestInputState,
  IngestInputStatusSchema,
  OutcomeCountSchema,
  type IngestInputStatus,
} from "../../gen/eventrouting/v1/ingest_admin_service_pb.js";
import type { InputStats } from "../ingest/ingest-stats.js";

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
  };
}

/**
 * Every NATS name the service uses, derived from one prefix (NATS_PREFIX, default "eventrouting"), so operators
 * can predict them. README "Operating" lists them; keep both in step.
 *
 *   stream   EVENTROUTING_DELIVERY     subjects eventrouting.deliver.<router id>   statements awaiting delivery
 *                                      (eventrouting.deliver.<router id>.<n> for a router re-created under a
 *                                      deleted id, incarnation n: see "Incarnations" below)
 *   stream   EVENTROUTING_FAILED       subjects eventrouting.failed.<router id>    exhausted critical statements
 *   stream   EVENTROUTING_ADVISORIES   $JS.EVENT.ADVISORY.CONSUMER.{MAX_DELIVERIES,MSG_TERMINATED}.EVENTROUTING_DELIVERY.*
 *   consumer deliver-<router id>       durable pull consumer on EVENTROUTING_DELIVERY, one per router
 *                                      (deliver-<router id>-R<n> for incarnation n)
 *   consumer failed-sweeper            durable on EVENTROUTING_ADVISORIES (backstop for crashes)
 *   consumer statement-log-<backend>   durable pull consumer on EVENTROUTING_DELIVERY per statement log (src/output/)
 *   KV       eventrouting_routers      router configurations (key = router id)
 *   KV       eventrouting_identities   user id / username -> {external_id, email}
 *   KV       eventrouting_courses      course id -> name
 *   KV       eventrouting_settings     service-wide generated settings (the identity HMAC key)
 *   KV       eventrouting_forgotten    forgotten learners (src/erasure/): t.<hash> tombstones, keyed hashes of the
 *                                      learner's identifiers only; f.<forget id> each forget's progress, then its
 *                                      audit record
 *   KV       eventrouting_mappings     custom event mappings (key = mapping id; MappingAdminService)
 *   KV       eventrouting_rate_limits  router id -> the next request slot of a rate-limited router
 *                                      (delivery/worker/rate-limiter.ts); created when first needed
 *
 * Incarnations: a router created under an id that was deleted before gets its own subject, consumer and msg ids
 * (n = the KV revision of the deletion it replaced, so unique per id). A deleted router's worker may still be
 * finishing a batch on some instance when the new one starts storing statements; each instance then removes the
 * old consumer and purges the old subject when its own worker has stopped. With one shared subject that purge
 * took the new router's statements too, and a lagging instance deleted the new router's consumer. The first router
 * under an id has no incarnation and keeps the plain names, so existing routers, consumers and backlogs stay as
 * they are. Router ids are lower case, so the "-R" of a consumer name cannot be part of an id.
 *
 * Ingest (ingestNames below, kept apart from the delivery names):
 *   stream   EVENTROUTING_INGEST       subjects eventrouting.ingest.>              raw events from any NATS producer
 *   stream   EVENTROUTING_REJECTED     subjects eventrouting.rejected.<source>     malformed input, with the reason
 *   consumer ingest                    durable pull consumer on EVENTROUTING_INGEST, shared by all instances
 */
export interface NatsNames {
  readonly prefix: string;
  readonly deliveryStream: string;
  readonly failedStream: string;
  readonly advisoryStream: string;
  readonly routersBucket: string;
  readonly identitiesBucket: string;
  readonly coursesBucket: string;
  readonly settingsBucket: string;
  readonly forgottenBucket: string;
  readonly mappingsBucket: string;
  readonly rateLimitsBucket: string;
  readonly sweeperConsumer: string;
  /** `incarnation` undefined or 0: the first router under this id (see "Incarnations" above). */
  deliverSubject(routerId: string, incarnation?: number): string;
  failedSubject(routerId: string): string;
  deliveryConsumer(routerId: string, incarnation?: number): string;
  /**
   * Nats-Msg-Id of a delivery message: router id (+ incarnation) + statement id, so a retried Emit does not
   * duplicate, while a re-created router still gets a statement its predecessor had within the dedupe window.
   */
  deliveryMsgId(routerId: string, statementId: string, incarnation?: number): string;
  /** Nats-Msg-Id on the failed stream; shared by the worker and the sweeper so either path de-duplicates. */
  failedMsgId(routerId: string, statementId: string): string;
  advisorySubjects(): string[];
}

export function natsNames(prefix = "eventrouting"): NatsNames {
  const upper = prefix.toUpperCase();
  const deliveryStream = `${upper}_DELIVERY`;
  return {
    prefix,
    deliveryStream,
    failedStream: `${upper}_FAILED`,
    advisoryStream: `${upper}_ADVISORIES`,
    routersBucket: `${prefix}_routers`,
    identitiesBucket: `${prefix}_identities`,
    coursesBucket: `${prefix}_courses`,
    settingsBucket: `${prefix}_settings`,
    forgottenBucket: `${prefix}_forgotten`,
    mappingsBucket: `${prefix}_mappings`,
    rateLimitsBucket: `${prefix}_rate_limits`,
    sweeperConsumer: "failed-sweeper",
    deliverSubject: (routerId, incarnation) => `${prefix}.deliver.${routerId}${incarnation ? `.${incarnation}` : ""}`,
    failedSubject: (routerId) => `${prefix}.failed.${routerId}`,
    deliveryConsumer: (routerId, incarnation) => `deliver-${routerId}${incarnation ? `-R${incarnation}` : ""}`,
    deliveryMsgId: (routerId, statementId, incarnation) => `${routerId}${incarnation ? `#${incarnation}` : ""}:${statementId}`,
    failedMsgId: (routerId, statementId) => `failed:${routerId}:${statementId}`,
    advisorySubjects: () => [
      `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${deliveryStream}.*`,
      `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${deliveryStream}.*`,
    ],
  };
}

/** Router ids name subjects and consumers, so they are restricted to one safe token. */
export const ROUTER_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

// ---- Ingest: the NATS ingest subject and the rejected stream (src/ingest/) ----

/** Where malformed input came from; names the rejected subject's last token. */
export type IngestSource = "event-bus-redis" | "nats";

export interface IngestNames {
  readonly ingestStream: string;
  readonly rejectedStream: string;
  /** Durable pull consumer on the ingest stream. */
  readonly ingestConsumer: string;
  /** Subjects the ingest stream takes: `<prefix>.ingest.>` (any token after "ingest" is the producer's choice). */
  ingestSubjects(): string[];
  rejectedSubject(source: IngestSource): string;
  /** Nats-Msg-Id of a rejected copy: a re-read of the same entry (after a crash before the ack) is stored once. */
  rejectedMsgId(source: IngestSource, origin: string, sourceId: string): string;
}

export function ingestNames(prefix = "eventrouting"): IngestNames {
  const upper = prefix.toUpperCase();
  return {
    ingestStream: `${upper}_INGEST`,
    rejectedStream: `${upper}_REJECTED`,
    ingestConsumer: "ingest",
    ingestSubjects: () => [`${prefix}.ingest.>`],
    rejectedSubject: (source) => `${prefix}.rejected.${source}`,
    rejectedMsgId: (source, origin, sourceId) => `rejected:${source}:${origin}:${sourceId}`,
  };
}

/**
 * Inputs beside Emit (src/ingest/): the Open edX event bus on Redis, named as Open edX names them, and raw events
 * published to NATS.
 */
import { z } from "zod";
import { withoutUserinfo } from "../url-userinfo.js";
import { bool, positiveInt } from "./schemas.js";
import { secret, v } from "./var-spec.js";

/** A Redis URL as node-redis takes it; shown without its user info when wrong. */
const redisUrl = z.string().superRefine((value, ctx) => {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || !/^rediss?:$/.test(url.protocol) || url.hostname === "") {
    ctx.addIssue({
      code: "custom",
      message: `"${withoutUserinfo(value)}" is not a Redis URL; expected redis://[:password@]host:6379[/db] or rediss://`,
    });
  }
});

export const INGEST_VARS = {
  eventBusRedisUrl: secret(
    "userinfo",
    v(
      "EVENT_BUS_REDIS_CONNECTION_URL",
      "(unset)",
      "Redis of the Open edX event bus (event-bus-redis), e.g. redis://:password@redis:6379/0. Unset: the Redis input is off.",
      redisUrl.optional(),
    ),
  ),
  eventBusTopicPrefix: v(
    "EVENT_BUS_TOPIC_PREFIX",
    "(unset)",
    "The LMS's EVENT_BUS_TOPIC_PREFIX: the stream read is <prefix>-<topic>, or <topic> without a prefix.",
    z.string().optional(),
  ),
  eventBusTrackingTopic: v(
    "EVENT_BUS_TRACKING_TOPIC",
    "analytics",
    "Topic the LMS sends tracking events to (EVENT_BUS_PRODUCER_CONFIG).",
    z.string().min(1),
  ),
  eventBusConsumerGroup: v(
    "EVENT_BUS_CONSUMER_GROUP",
    "event_routing",
    "Redis consumer group, shared by every instance of this service.",
    z.string().min(1),
  ),
  eventBusConsumerName: v(
    "EVENT_BUS_CONSUMER_NAME",
    "(host name)",
    "This instance's consumer name in the group; unique per instance, stable across its restarts.",
    z.string().min(1).optional(),
  ),
  eventBusStartId: v(
    "EVENT_BUS_GROUP_START",
    "0",
    "Where a new consumer group starts: 0 = every entry still in the stream, $ = only new entries.",
    z.enum(["0", "$"], { error: "expected 0 or $" }),
  ),
  eventBusBatchSize: v("EVENT_BUS_BATCH_SIZE", "100", "Entries per XREADGROUP, stored with one pipelined publish.", positiveInt.max(1000)),
  eventBusClaimIdleMs: v(
    "EVENT_BUS_CLAIM_IDLE_MS",
    "60000",
    "Entries pending this long in another consumer (crashed) are claimed, in ms.",
    positiveInt,
  ),
  natsIngestEnabled: v(
    "NATS_INGEST_ENABLED",
    "true",
    "Consume raw events published to <NATS_PREFIX>.ingest.> (stream <PREFIX>_INGEST).",
    bool,
  ),
};

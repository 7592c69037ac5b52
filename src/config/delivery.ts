/**
 * Delivery: how long and how much the delivery, advisory and failed streams keep, and the defaults of the workers
 * that send statements over HTTP (each router may override them). A request must end before JetStream redelivers
 * it, and a duplicate id cannot be remembered longer than the statement it names.
 */
import { type Rule, parsedRule } from "./rules.js";
import { bool, list, nonNegativeInt, positiveInt } from "./schemas.js";
import { type Parsed, v } from "./var-spec.js";

export const DEFAULT_CRITICAL_EVENTS = [
  "edx.course.enrollment.activated",
  "edx.course.enrollment.deactivated",
  "edx.course.grade.passed.first_time",
];

export const STREAM_VARS = {
  deliveryMaxAgeHours: v(
    "DELIVERY_MAX_AGE_HOURS",
    "168",
    "How long statements stay in the delivery stream, delivered or not.",
    positiveInt,
  ),
  deliveryDuplicateWindowHours: v(
    "DELIVERY_DUPLICATE_WINDOW_HOURS",
    "2",
    "How long a stored statement id makes a re-sent one a duplicate (at most DELIVERY_MAX_AGE_HOURS; docs/reliability.md).",
    positiveInt,
  ),
  deliveryMaxBytes: v(
    "DELIVERY_MAX_BYTES",
    "(8589934592, halved until the NATS server can reserve it)",
    "Largest delivery stream in bytes (0 = no limit); when full, Emit answers Unavailable (docs/delivery.md Sizing).",
    nonNegativeInt.optional(),
  ),
  advisoryMaxBytes: v(
    "ADVISORY_MAX_BYTES",
    "67108864",
    "Largest advisory stream in bytes (0 = no limit); when full, the oldest advisories are dropped.",
    nonNegativeInt,
  ),
  failedMaxBytes: v(
    "FAILED_MAX_BYTES",
    "1073741824",
    "Failed stream size in bytes above which its oldest non-critical statements are discarded, each logged and counted; critical ones never are (0 = no limit).",
    nonNegativeInt,
  ),
};

export const DELIVERY_VARS = {
  deliveryEnabled: v("DELIVERY_ENABLED", "true", "Run delivery workers in this instance.", bool),
  deliveryBatchSize: v("DELIVERY_BATCH_SIZE", "100", "Default statements per HTTP request.", positiveInt.max(10_000)),
  deliveryBatchIntervalMs: v("DELIVERY_BATCH_INTERVAL_MS", "5000", "Default longest wait before a partial batch is sent.", positiveInt),
  deliveryMaxRetries: v("DELIVERY_MAX_RETRIES", "3", "Default retries after the first attempt.", nonNegativeInt.max(100)),
  deliveryCountdownMs: v("DELIVERY_COUNTDOWN_MS", "30000", "Default wait before a retry (consumer ack wait).", positiveInt),
  deliveryHttpTimeoutMs: v("DELIVERY_HTTP_TIMEOUT_MS", "10000", "Default HTTP timeout; must be below the countdown.", positiveInt),
  criticalEvents: v(
    "CRITICAL_EVENTS",
    DEFAULT_CRITICAL_EVENTS.join(","),
    "Events whose exhausted statements are never discarded from the failed stream (the others may be: FAILED_MAX_BYTES).",
    list,
  ),
  forgetScanRate: v(
    "FORGET_SCAN_RATE",
    "0",
    "Messages per second a forget (ForgetLearner) reads from the streams at most, to spare NATS on a large backlog; 0 = no limit (else at least 100).",
    nonNegativeInt.refine((n) => n === 0 || n >= 100, "expected 0 (no limit) or at least 100"),
  ),
};

type DeliveryConfig = Parsed<typeof STREAM_VARS> & Parsed<typeof DELIVERY_VARS>;

export const DELIVERY_RULES: ReadonlyArray<Rule<DeliveryConfig>> = [
  parsedRule(
    (c) => c.deliveryHttpTimeoutMs >= c.deliveryCountdownMs,
    "DELIVERY_HTTP_TIMEOUT_MS must be below DELIVERY_COUNTDOWN_MS, or a slow request is redelivered while in flight",
  ),
  parsedRule(
    (c) => c.deliveryDuplicateWindowHours > c.deliveryMaxAgeHours,
    "DELIVERY_DUPLICATE_WINDOW_HOURS must not exceed DELIVERY_MAX_AGE_HOURS: JetStream keeps no id longer than the stream keeps its statements",
  ),
];

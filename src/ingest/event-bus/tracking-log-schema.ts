/**
 * The Avro schema of the Open edX signal TRACKING_EVENT_EMITTED, as openedx-events derives it
 * (event_bus/avro/schema.py `schema_from_signal`) from the signal's data `{"tracking_log": TrackingLogData}`:
 *
 *   TrackingLogData(name: str, timestamp: datetime, data: str, context: str)      (openedx_events/analytics/data.py)
 *
 * str maps to Avro "string"; datetime has the custom serializer DatetimeAvroSerializer, field type "string", value
 * `datetime.isoformat()`. openedx-events keeps the generated schema as a test fixture
 * (event_bus/avro/tests/schemas/org+openedx+analytics+event_tracking+emitted+v1_schema.avsc); the record below
 * is that schema. event-bus-redis writes the record with fastavro's schemaless_writer: no header, no schema id,
 * so reader and writer must agree on this exact field list and order.
 *
 * The namespace is the signal's event type. Avro's binary encoding does not depend on names, so records written
 * under the pre-rename event type decode the same way.
 */
import avro from "avsc";

/** The event type the LMS sends today (openedx-events >= 9.x, signals.py TRACKING_EVENT_EMITTED). */
export const TRACKING_EVENT_TYPE = "org.openedx.analytics.tracking.event.emitted.v1";
/** The same signal's type in the first openedx-events releases that had it; identical payload. */
export const TRACKING_EVENT_TYPE_LEGACY = "org.openedx.analytics.event_tracking.emitted.v1";
export const TRACKING_EVENT_TYPES: ReadonlySet<string> = new Set([TRACKING_EVENT_TYPE, TRACKING_EVENT_TYPE_LEGACY]);

export const TRACKING_LOG_SCHEMA = {
  name: "CloudEvent",
  type: "record",
  doc: "Avro Event Format for CloudEvents created with openedx_events/schema",
  namespace: TRACKING_EVENT_TYPE,
  fields: [
    {
      name: "tracking_log",
      type: {
        name: "TrackingLogData",
        type: "record",
        fields: [
          { name: "name", type: "string" },
          { name: "timestamp", type: "string" },
          { name: "data", type: "string" },
          { name: "context", type: "string" },
        ],
      },
    },
  ],
} as const;

export interface TrackingLogData {
  readonly name: string;
  /** `datetime.isoformat()` of the tracker's timestamp, e.g. "2023-07-10T09:23:10.354202+00:00". */
  readonly timestamp: string;
  /** JSON text of the event's data. */
  readonly data: string;
  /** JSON text of the event's context. */
  readonly context: string;
}

const trackingLogType = avro.Type.forSchema(TRACKING_LOG_SCHEMA as unknown as avro.Schema);

/**
 * Decodes one schemaless record. Throws on truncated input or trailing bytes (avsc checks that the whole buffer
 * is one record), so a payload written with another schema is refused rather than half-read.
 */
export function decodeTrackingLog(bytes: Buffer): TrackingLogData {
  const { name, timestamp, data, context } = (trackingLogType.fromBuffer(bytes) as { tracking_log: TrackingLogData }).tracking_log;
  return { name, timestamp, data, context };
}

/** The encoder, for tests and the benchmark; production only decodes. */
export function encodeTrackingLog(log: TrackingLogData): Buffer {
  return trackingLogType.toBuffer({ tracking_log: log });
}

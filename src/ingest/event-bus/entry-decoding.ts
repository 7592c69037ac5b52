/**
 * One Redis Stream entry written by event-bus-redis, turned into an EdxEvent or a verdict. Pure.
 *
 * Wire format (event-bus-redis internal/message.py `RedisMessage.to_binary_dict`, internal/utils.py): the
 * CloudEvent headers as stream fields (`type`, `id`, `source`, `time`, `minorversion`, `sourcehost`,
 * `sourcelib`, UTF-8), plus `event_data`, the schemaless Avro record of the signal's data (tracking-log-schema.ts).
 * Like event-bus-redis's own consumer, `id` is required and the other headers are optional.
 *
 * The event handed to the emit path is the one ERB's bus handler rebuilds (event-tracking handlers.py
 * `send_tracking_log_to_backends`): `{name, timestamp, data, context}` in that order, data and context parsed
 * from their JSON texts. A `null` data or context (the tracker had none) is left out, as in the tracker's event.
 *
 * Raw timestamp (statement ids hash it): the Avro `timestamp` string exactly as received, i.e. the producer's
 * `datetime.isoformat()` such as "2023-07-10T09:23:10.354202+00:00" — the same string the LMS writes to
 * tracking.log for that event, so the bus, Emit of the logged event and a replay of the log give the same ids.
 * ERB's own bus consumer turns it back into a datetime first (and may hash `str(datetime)`, with a space
 * instead of the "T"); we deliberately keep the wire string. See README "Connecting Open edX".
 */
import { EventParseError, eventFromObject, type EdxEvent, type JsonObject, type JsonValue } from "../../transform/edx-event.js";
import { decodeTrackingLog, TRACKING_EVENT_TYPES } from "./tracking-log-schema.js";

/** Entry fields as read from Redis: name -> raw bytes (binary-safe; event_data is not UTF-8). */
export type EntryFields = Readonly<Record<string, Buffer>>;

export type EntryVerdict =
  | { readonly kind: "event"; readonly event: EdxEvent; readonly cloudEventId: string }
  /** Another signal on the same stream: acknowledged and counted, not an error. */
  | { readonly kind: "other_type"; readonly type: string }
  /** Malformed: acknowledged and copied with the reason to the rejected stream. */
  | { readonly kind: "reject"; readonly reason: string };

const utf8 = (b: Buffer | undefined): string | undefined => (b === undefined ? undefined : b.toString("utf8"));

export function decodeEntry(fields: EntryFields): EntryVerdict {
  const type = utf8(fields["type"]);
  if (type === undefined || type === "") return reject('missing "type" field (CloudEvent type)');
  if (!TRACKING_EVENT_TYPES.has(type)) return { kind: "other_type", type };
  const cloudEventId = utf8(fields["id"]);
  if (cloudEventId === undefined || cloudEventId === "") return reject('missing "id" field (CloudEvent id)');
  const eventData = fields["event_data"];
  if (eventData === undefined) return reject('missing "event_data" field');

  let log;
  try {
    log = decodeTrackingLog(eventData);
  } catch (e) {
    return reject(`event_data is not a TrackingLogData Avro record: ${(e as Error).message}`);
  }
  const data = parseJsonField("data", log.data);
  if ("error" in data) return reject(data.error);
  const context = parseJsonField("context", log.context);
  if ("error" in context) return reject(context.error);

  const body: JsonObject = { name: log.name, timestamp: log.timestamp };
  if (data.value !== null) body["data"] = data.value;
  if (context.value !== null) body["context"] = context.value;
  try {
    return { kind: "event", event: eventFromObject(body), cloudEventId };
  } catch (e) {
    // Anything else (e.g. a stack overflow on absurdly nested JSON) is a property of this entry too: rejecting
    // it keeps one entry from stopping the stream.
    if (e instanceof EventParseError) return reject(`tracking_log.${e.field}: ${e.message}`);
    return reject(`not a usable event: ${(e as Error)?.message ?? String(e)}`);
  }
}

function parseJsonField(field: "data" | "context", text: string): { value: JsonValue } | { error: string } {
  try {
    return { value: JSON.parse(text) as JsonValue };
  } catch (e) {
    return { error: `tracking_log.${field} is not JSON: ${(e as Error).message}` };
  }
}

function reject(reason: string): EntryVerdict {
  return { kind: "reject", reason };
}

/**
 * Turns the wire form of an event (typed TrackingEvent or raw JSON text) into the internal EdxEvent, with
 * validation errors that name the request field.
 */
import type { EventInput, TrackingEvent } from "../../gen/eventrouting/v1/event_pb.js";
import { ValidationError } from "../errors.js";
import { EventParseError, eventFromObject, parseEventJson, type EdxEvent, type JsonObject } from "../transform/edx-event.js";

export function eventFromInput(input: EventInput | undefined, field: string): EdxEvent {
  try {
    switch (input?.event.case) {
      case "json":
        return parseEventJson(input.event.value);
      case "trackingEvent":
        return eventFromObject(trackingEventBody(input.event.value));
      default:
        throw new ValidationError(field, "an event is required (tracking_event or json)");
    }
  } catch (e) {
    if (e instanceof EventParseError) {
      // For JSON text the offending key is inside the text, so it goes into the message, not the field path.
      if (input?.event.case === "json")
        throw new ValidationError(`${field}.json`, e.field === "json" ? e.message : `${e.field}: ${e.message}`);
      throw new ValidationError(`${field}.tracking_event.${e.field}`, e.message);
    }
    throw e;
  }
}

/**
 * The live tracker shape, plus the tracking-log top-level fields that were set. Key order follows the tracker's
 * (context before data), which keeps ERB's depth-first look-ups finding context values first.
 */
function trackingEventBody(t: TrackingEvent): JsonObject {
  const body: JsonObject = { name: t.name };
  if (t.timestamp !== "") body["timestamp"] = t.timestamp;
  if (t.eventSource !== "") body["event_source"] = t.eventSource;
  if (t.context) body["context"] = t.context;
  if (t.data) body["data"] = t.data;
  const topLevel: Array<[string, string]> = [
    ["username", t.username],
    ["session", t.session],
    ["ip", t.ip],
    ["agent", t.agent],
    ["host", t.host],
    ["referer", t.referer],
    ["accept_language", t.acceptLanguage],
    ["page", t.page],
    ["event_type", t.eventType],
  ];
  for (const [k, v] of topLevel) if (v !== "") body[k] = v;
  if (t.extra) for (const [k, v] of Object.entries(t.extra)) if (!(k in body)) body[k] = v;
  return body;
}

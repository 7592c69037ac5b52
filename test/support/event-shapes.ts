/**
 * Converts a raw edX event between its two input shapes, the way edx-platform and ERB do:
 * - live tracker -> tracking log (edx-platform LegacyFieldMappingProcessor): username, session, ip, agent, host,
 *   referer, accept_language and event_source move from context to the top level, client_id is dropped, `data`
 *   becomes `event` (JSON-string-encoded for browser events), `timestamp` becomes `time`, and event_type and page
 *   are added;
 * - tracking log -> live: `event` becomes `data`, `time` becomes `timestamp`, the moved fields go back to context.
 */
import { eventFromObject, isJsonObject, type EdxEvent, type JsonObject } from "../../src/transform/edx-event.js";

const MOVED = ["username", "session", "ip", "agent", "host", "referer", "accept_language", "event_source"] as const;

export function isLogShaped(body: JsonObject): boolean {
  return "event" in body || ("time" in body && !("timestamp" in body));
}

export function toLogShape(event: EdxEvent): EdxEvent {
  const body = event.body;
  if (isLogShaped(body)) return event;
  const context: JsonObject = isJsonObject(body["context"]) ? { ...body["context"] } : {};
  const out: JsonObject = { name: event.name };
  for (const key of MOVED) {
    if (key in context) {
      out[key] = context[key]!;
      delete context[key];
    }
  }
  delete context["client_id"];
  out["context"] = context;
  const source = out["event_source"] ?? "server";
  out["event_source"] = source;
  const data = body["data"];
  if (data !== undefined) out["event"] = source === "browser" && isJsonObject(data) ? JSON.stringify(data) : data;
  out["time"] = body["timestamp"] ?? event.rawTimestamp;
  out["event_type"] = event.name;
  out["page"] = null;
  return eventFromObject(out);
}

export function toLiveShape(event: EdxEvent): EdxEvent {
  const body = event.body;
  if (!isLogShaped(body)) return event;
  const context: JsonObject = isJsonObject(body["context"]) ? { ...body["context"] } : {};
  for (const key of MOVED) {
    const v = body[key];
    if (v !== undefined && v !== null && !(key in context)) context[key] = v;
  }
  const out: JsonObject = { name: event.name, context };
  const payload = body["event"] ?? body["data"];
  if (payload !== undefined) out["data"] = payload;
  out["timestamp"] = body["timestamp"] ?? body["time"] ?? event.rawTimestamp;
  return eventFromObject(out);
}

/** The same event under another name (for registered names that have no ERB fixture of their own). */
export function renamed(event: EdxEvent, name: string): EdxEvent {
  const body: JsonObject = { ...event.body, name };
  if ("event_type" in body) body["event_type"] = name;
  return eventFromObject(body);
}

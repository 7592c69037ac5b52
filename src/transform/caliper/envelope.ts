/**
 * The Caliper 1.2 envelope (spec §5): one envelope per HTTP request, whose `data` holds the whole batch. ERB wraps
 * every event in its own envelope and posts arrays of envelopes; receivers expect exactly one.
 *
 * `sensor` is configurable and defaults to the LMS root URL (ERB's `sensor_id` processor option default).
 */
import type { JsonObject } from "../edx-event.js";
import { caliperSendTime } from "../time-format.js";
import type { TransformSettings } from "../transform-env.js";
import { CALIPER_CONTEXT } from "./caliper-common.js";

export function caliperEnvelope(sensorId: string, events: readonly JsonObject[], sendTime = new Date()): JsonObject {
  return {
    sensor: sensorId,
    sendTime: caliperSendTime(sendTime),
    dataVersion: CALIPER_CONTEXT,
    data: [...events],
  };
}

/** The configured sensor id, else the LMS root URL. */
export function caliperSensorId(settings: Pick<TransformSettings, "lmsRootUrl">, configured?: string): string {
  return configured !== undefined && configured !== "" ? configured : settings.lmsRootUrl;
}

/**
 * A router's `override_args` merged at the envelope root (later keys win), e.g. `{sensor: "..."}`. `data` cannot
 * be overridden: the batch is the envelope's payload, not a setting. Returns a new object.
 */
export function applyEnvelopeOverrides(envelope: JsonObject, overrideArgs: Readonly<JsonObject> | undefined): JsonObject {
  if (!overrideArgs) return envelope;
  const out: JsonObject = { ...envelope };
  for (const key of Object.keys(overrideArgs)) {
    if (key === "data") continue;
    out[key] = overrideArgs[key]!;
  }
  return out;
}

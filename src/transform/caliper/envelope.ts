/**
 * The Caliper 1.2 envelope (spec §5): one envelope per HTTP request, whose `data` holds the whole batch. ERB wraps
 * every event in its own envelope and posts arrays of envelopes; receivers expect exactly one.
 */
import type { JsonObject } from "../edx-event.js";
import { caliperSendTime } from "../time-format.js";
import { CALIPER_CONTEXT } from "./caliper-common.js";

export function caliperEnvelope(sensorId: string, events: readonly JsonObject[], sendTime = new Date()): JsonObject {
  return {
    sensor: sensorId,
    sendTime: caliperSendTime(sendTime),
    dataVersion: CALIPER_CONTEXT,
    data: [...events],
  };
}

/**
 * xAPI video events (ERB video_events.py): 21 names plus edx.video.language_menu.shown/hidden (allowlisted by ERB
 * without a transformer; mapped here like the other video menu events: "interacted" with the playhead time).
 * Object id `{LMS}/xblock/{block-v1|ccx-block-v1}:{course}+type@video+block@{id}`; numbers rounded to 3 decimals.
 */
import type { EdxEvent, JsonObject, JsonValue } from "../edx-event.js";
import { payloadNumber, videoCurrentTime, videoDuration, videoId, videoUsageKey } from "../edx-fields.js";
import { payloadValue, pyStr, requireString } from "../field-access.js";
import type { TransformerRegistry } from "../registry.js";
import { round3, tincanDuration } from "../time-format.js";
import { xblockIri, type TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";
import { activity, verb, xapiContext, xapiResult, xapiStatement, type XapiVerb } from "./xapi-common.js";

const ACTIVITY_VIDEO = "https://w3id.org/xapi/video/activity-type/video";
const EXT_LENGTH = "https://w3id.org/xapi/video/extensions/length";
const EXT_TIME = "https://w3id.org/xapi/video/extensions/time";
const EXT_TIME_FROM = "https://w3id.org/xapi/video/extensions/time-from";
const EXT_TIME_TO = "https://w3id.org/xapi/video/extensions/time-to";
const EXT_CC_ENABLED = "https://w3id.org/xapi/video/extensions/cc-enabled";
const EXT_SPEED_FROM = "https://w3id.org/xapi/openedx/extension/speed-from";
const EXT_SPEED_TO = "https://w3id.org/xapi/openedx/extension/speed-to";

const INITIALIZED = verb("http://adlnet.gov/expapi/verbs/initialized", "initialized");
const PLAYED = verb("https://w3id.org/xapi/video/verbs/played", "played");
const PAUSED = verb("https://w3id.org/xapi/video/verbs/paused", "paused");
const TERMINATED = verb("http://adlnet.gov/expapi/verbs/terminated", "terminated");
const COMPLETED = verb("http://adlnet.gov/expapi/verbs/completed", "completed");
const SEEKED = verb("https://w3id.org/xapi/video/verbs/seeked", "seeked");
const INTERACTED = verb("http://adlnet.gov/expapi/verbs/interacted", "interacted");

const OBJECT_ID_PATTERN = "{LMS}/xblock/{block-v1|ccx-block-v1}:{course key}+type@video+block@{data.id}";

type ResultFn = (event: EdxEvent) => JsonObject | undefined;

function r3(n: number | undefined): number | undefined {
  return n === undefined ? undefined : round3(n);
}

function videoStatement(v: XapiVerb, result: ResultFn) {
  return (event: EdxEvent, env: TransformEnv): JsonObject[] => {
    const courseId = requireString(event, "context.course_id");
    const id = videoId(event);
    if (id === undefined) throw TransformSkip.missingField("data.id");
    return [
      xapiStatement(event, env, {
        verb: v,
        object: activity(xblockIri(env, videoUsageKey(courseId, id)), ACTIVITY_VIDEO),
        result: result(event),
        context: xapiContext(event, env, { extensions: { [EXT_LENGTH]: r3(videoDuration(event)) ?? null } }),
      }),
    ];
  };
}

const noResult: ResultFn = () => undefined;
const timeResult: ResultFn = (event) => xapiResult({ extensions: { [EXT_TIME]: r3(videoCurrentTime(event)) ?? null } });
const completedResult: ResultFn = (event) => {
  const duration = videoDuration(event);
  return xapiResult({
    extensions: { [EXT_TIME]: r3(duration) ?? null },
    completion: true,
    duration: duration === undefined ? undefined : tincanDuration(duration),
  });
};
const seekResult: ResultFn = (event) =>
  xapiResult({
    extensions: {
      [EXT_TIME_FROM]: r3(payloadNumber(event, "old_time")) ?? null,
      [EXT_TIME_TO]: r3(payloadNumber(event, "new_time")) ?? null,
    },
  });

/** Python's str() of a speed: "1.0" stays "1.0"; a JSON number 1 (float 1.0 in Python) becomes "1.0". */
function speedText(v: JsonValue | undefined): string | null {
  if (v === undefined) return null;
  if (typeof v === "number" && Number.isInteger(v)) return `${v}.0x`;
  return `${pyStr(v)}x`;
}
const speedResult: ResultFn = (event) =>
  xapiResult({
    extensions: {
      [EXT_SPEED_FROM]: speedText(payloadValue(event, "old_speed")),
      [EXT_SPEED_TO]: speedText(payloadValue(event, "new_speed")),
    },
  });
const ccResult =
  (enabled: boolean): ResultFn =>
  (event) =>
    xapiResult({ extensions: { [EXT_TIME]: r3(videoCurrentTime(event)) ?? null, [EXT_CC_ENABLED]: enabled } });

const mapping = (v: XapiVerb, result: string) => ({ verb: v.id, objectType: ACTIVITY_VIDEO, objectId: OBJECT_ID_PATTERN, result });
const LENGTH = "context ext length (duration, 3 dp)";

export function registerXapiVideoEvents(registry: TransformerRegistry): void {
  registry
    .register(["load_video", "edx.video.loaded"], "video", mapping(INITIALIZED, LENGTH), videoStatement(INITIALIZED, noResult))
    .register(
      ["play_video", "edx.video.played"],
      "video",
      mapping(PLAYED, `ext time (current_time|currentTime); ${LENGTH}`),
      videoStatement(PLAYED, timeResult),
    )
    .register(["pause_video", "edx.video.paused"], "video", mapping(PAUSED, `ext time; ${LENGTH}`), videoStatement(PAUSED, timeResult))
    .register(
      ["stop_video", "edx.video.stopped"],
      "video",
      mapping(TERMINATED, `ext time; ${LENGTH}`),
      videoStatement(TERMINATED, timeResult),
    )
    .register(
      ["complete_video", "edx.video.completed"],
      "video",
      mapping(COMPLETED, `completion true, duration (tincan ISO 8601), ext time = duration; ${LENGTH}`),
      videoStatement(COMPLETED, completedResult),
    )
    .register(
      ["seek_video", "edx.video.position.changed"],
      "video",
      mapping(SEEKED, `ext time-from (old_time), time-to (new_time); ${LENGTH}`),
      videoStatement(SEEKED, seekResult),
    )
    .register(
      ["speed_change_video"],
      "video",
      mapping(INTERACTED, `ext speed-from, speed-to ("1.0x"); ${LENGTH}`),
      videoStatement(INTERACTED, speedResult),
    )
    .register(
      ["hide_transcript", "edx.video.transcript.hidden", "video_hide_cc_menu", "edx.video.closed_captions.hidden"],
      "video",
      mapping(INTERACTED, `ext time, cc-enabled false; ${LENGTH}`),
      videoStatement(INTERACTED, ccResult(false)),
    )
    .register(
      ["show_transcript", "edx.video.transcript.shown", "video_show_cc_menu", "edx.video.closed_captions.shown"],
      "video",
      mapping(INTERACTED, `ext time, cc-enabled true; ${LENGTH}`),
      videoStatement(INTERACTED, ccResult(true)),
    )
    .register(
      ["edx.video.language_menu.shown", "edx.video.language_menu.hidden"],
      "video (no ERB transformer)",
      mapping(INTERACTED, `ext time; ${LENGTH}`),
      videoStatement(INTERACTED, timeResult),
    );
}

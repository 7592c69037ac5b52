/**
 * Caliper video (ERB caliper video_events.py): every name is a MediaEvent on a VideoObject whose id is the video's
 * xblock IRI (same usage key as xAPI, incl. ccx-block-v1 for CCX courses).
 *
 *   load_video, edx.video.loaded                                   -> Started
 *   play_video, edx.video.played                                   -> Resumed
 *   stop_video, edx.video.stopped, complete_video, edx.video.completed -> Ended
 *   pause_video, edx.video.paused                                  -> Paused
 *   seek_video, edx.video.position.changed                         -> JumpedTo   (target.extensions.newTime)
 *   hide_transcript, edx.video.transcript.hidden,
 *     edx.video.closed_captions.hidden, video_hide_cc_menu         -> DisabledClosedCaptioning
 *   show_transcript, edx.video.transcript.shown,
 *     edx.video.closed_captions.shown, video_show_cc_menu          -> EnabledClosedCaptioning
 *   speed_change_video                                             -> ChangedSpeed (event extensions oldSpeed/newSpeed)
 *
 * object.duration = isodate duration of data.duration (missing -> P0D as ERB; null, which makes ERB raise, is
 * treated as missing). target = {id: "_:MediaLocation", type: "MediaLocation", currentTime?}: the playhead
 * (currentTime / current_time), or for JumpedTo the seek origin (old_time, else the playhead). Times are not
 * rounded (ERB's Caliper output keeps microseconds: PT0.032788S).
 */
import type { EdxEvent, JsonObject, JsonValue } from "../edx-event.js";
import { videoCurrentTime, videoDuration, videoId, videoUsageKey, payloadNumber } from "../edx-fields.js";
import { payloadValue, requireString } from "../field-access.js";
import type { TransformerRegistry } from "../registry.js";
import { isodateDuration } from "../time-format.js";
import { xblockIri, type TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";
import { caliperEvent, caliperObject } from "./caliper-common.js";

const TYPE = "MediaEvent";

function videoObject(event: EdxEvent, env: TransformEnv): JsonObject {
  const courseId = requireString(event, "context.course_id");
  const id = videoId(event);
  if (id === undefined) throw TransformSkip.missingField("data.id");
  return caliperObject(event, env, "VideoObject", xblockIri(env, videoUsageKey(courseId, id)), {
    duration: isodateDuration(videoDuration(event) ?? 0),
  });
}

function mediaLocation(currentTime: number | undefined, newTime?: number): JsonObject {
  const target: JsonObject = { id: "_:MediaLocation", type: "MediaLocation" };
  if (currentTime !== undefined) target["currentTime"] = isodateDuration(currentTime);
  if (newTime !== undefined) target["extensions"] = { newTime: isodateDuration(newTime) };
  return target;
}

function mediaEvent(action: string) {
  return (event: EdxEvent, env: TransformEnv): JsonObject[] => [
    caliperEvent(event, env, { type: TYPE, action, object: videoObject(event, env), target: mediaLocation(videoCurrentTime(event)) }),
  ];
}

function jumpedTo(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const from = payloadNumber(event, "old_time") ?? videoCurrentTime(event);
  const target = mediaLocation(from, payloadNumber(event, "new_time"));
  return [caliperEvent(event, env, { type: TYPE, action: "JumpedTo", object: videoObject(event, env), target })];
}

function changedSpeed(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const extensions: JsonObject = {};
  const oldSpeed: JsonValue | undefined = payloadValue(event, "old_speed");
  const newSpeed: JsonValue | undefined = payloadValue(event, "new_speed");
  if (oldSpeed !== undefined) extensions["oldSpeed"] = oldSpeed;
  if (newSpeed !== undefined) extensions["newSpeed"] = newSpeed;
  return [
    caliperEvent(event, env, {
      type: TYPE,
      action: "ChangedSpeed",
      object: videoObject(event, env),
      target: mediaLocation(videoCurrentTime(event)),
      extensions,
    }),
  ];
}

const OBJECT_ID = "{LMS}/xblock/{block-v1|ccx-block-v1}:{course}+type@video+block@{data.id}";
const mapping = (action: string, result: string) => ({
  verb: `${TYPE} / ${action}`,
  objectType: "VideoObject",
  objectId: OBJECT_ID,
  result,
});
const PLAYHEAD = "object.duration, target.currentTime";

export function registerCaliperVideoEvents(registry: TransformerRegistry): void {
  registry
    .register(["load_video", "edx.video.loaded"], "video", mapping("Started", PLAYHEAD), mediaEvent("Started"))
    .register(["play_video", "edx.video.played"], "video", mapping("Resumed", PLAYHEAD), mediaEvent("Resumed"))
    .register(
      ["stop_video", "edx.video.stopped", "complete_video", "edx.video.completed"],
      "video",
      mapping("Ended", PLAYHEAD),
      mediaEvent("Ended"),
    )
    .register(["pause_video", "edx.video.paused"], "video", mapping("Paused", PLAYHEAD), mediaEvent("Paused"))
    .register(
      ["seek_video", "edx.video.position.changed"],
      "video",
      mapping("JumpedTo", "object.duration, target.currentTime = old_time, target.extensions.newTime = new_time"),
      jumpedTo,
    )
    .register(
      ["hide_transcript", "edx.video.transcript.hidden", "edx.video.closed_captions.hidden", "video_hide_cc_menu"],
      "video",
      mapping("DisabledClosedCaptioning", PLAYHEAD),
      mediaEvent("DisabledClosedCaptioning"),
    )
    .register(
      ["show_transcript", "edx.video.transcript.shown", "edx.video.closed_captions.shown", "video_show_cc_menu"],
      "video",
      mapping("EnabledClosedCaptioning", PLAYHEAD),
      mediaEvent("EnabledClosedCaptioning"),
    )
    .register(["speed_change_video"], "video", mapping("ChangedSpeed", `${PLAYHEAD}, extensions.oldSpeed/newSpeed`), changedSpeed);
}

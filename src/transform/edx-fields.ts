/**
 * Backend-neutral readers for edX event fields that both the xAPI and the Caliper transformers need (video usage
 * keys, video times, the problem block of a browser problem_check). Each reader accepts both input shapes: the live
 * tracker shape (`data.*`) and the tracking-log shape (`event.*`), via `payloadValue`.
 *
 * Shared file: change it only with small additive edits.
 */
import type { EdxEvent, JsonValue } from "./edx-event.js";
import { getData, getString, payloadValue, pyStr } from "./field-access.js";

const COURSE_KEY_PREFIX = /^(?:course-v1|ccx-v1):/;
const CCX_PREFIX = "ccx-v1:";
/** `input_<32-hex block hash>_<question>_<answer>` form keys of a browser problem_check. */
const INPUT_BLOCK_HASH = /input_([0-9a-fA-F]{32})_/;
const ACTIVATE_BLOCK_ID = /[?&]activate_block_id=([^&#]*)/;
const PLUS = /\+/g;

/** The key body of a course id: "course-v1:edX+DemoX+Demo_Course" -> "edX+DemoX+Demo_Course". */
export function courseKeyBody(courseId: string): string {
  return courseId.replace(COURSE_KEY_PREFIX, "");
}

/** True for a CCX course ("ccx-v1:..."), whose blocks use the "ccx-block-v1" usage-key prefix. */
export function isCcxCourse(courseId: string): boolean {
  return courseId.startsWith(CCX_PREFIX);
}

/** A usage key of a block of the given type in the course (ERB make_video_block_id generalised). */
export function blockUsageKey(courseId: string, blockType: string, blockId: string): string {
  const prefix = isCcxCourse(courseId) ? "ccx-block-v1" : "block-v1";
  return `${prefix}:${courseKeyBody(courseId)}+type@${blockType}+block@${blockId}`;
}

/** `{block-v1|ccx-block-v1}:{course key body}+type@video+block@{videoId}`. */
export function videoUsageKey(courseId: string, videoId: string): string {
  return blockUsageKey(courseId, "video", videoId);
}

/** A payload value as a finite number (numbers and numeric strings), else undefined. */
export function payloadNumber(event: EdxEvent, key: string): number | undefined {
  const v = payloadValue(event, key);
  return toNumber(v);
}

export function toNumber(v: JsonValue | undefined): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? v : undefined;
  if (typeof v === "string" && v.trim() !== "") {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** The video block id (`data.id` / `event.id`) as a string, or undefined. */
export function videoId(event: EdxEvent): string | undefined {
  const v = payloadValue(event, "id");
  return v === undefined ? undefined : pyStr(v);
}

/** The video length in seconds (`duration`); undefined when missing or null. Note `0` is a real value. */
export function videoDuration(event: EdxEvent): number | undefined {
  return payloadNumber(event, "duration");
}

/** The playhead in seconds: `current_time`, else `currentTime`. */
export function videoCurrentTime(event: EdxEvent): number | undefined {
  return payloadNumber(event, "current_time") ?? payloadNumber(event, "currentTime");
}

/** The `activate_block_id` query parameter of a referer URL, URL-decoded; undefined when absent. */
export function activateBlockIdFromReferer(referer: string): string | undefined {
  const m = ACTIVATE_BLOCK_ID.exec(referer);
  if (!m || m[1] === undefined || m[1] === "") return undefined;
  try {
    return decodeURIComponent(m[1].replace(PLUS, " "));
  } catch {
    return undefined;
  }
}

/** The 32-hex block hash from an `input_<hash>_…` form string (browser problem_check `data`). */
export function problemHashFromInputs(formData: string): string | undefined {
  return INPUT_BLOCK_HASH.exec(formData)?.[1];
}

/**
 * The problem usage key of a browser `problem_check`: the referer's `activate_block_id`, else
 * `block-v1:{course}+type@problem+block@{hash}` from the `input_<hash>_` form keys in the payload.
 */
export function browserProblemUsageKey(event: EdxEvent): string | undefined {
  const referer = getString(event, "context.referer") ?? getString(event, "referer");
  const fromReferer = referer !== undefined ? activateBlockIdFromReferer(referer) : undefined;
  if (fromReferer !== undefined) return fromReferer;
  const payload = getData(event, "data") ?? getData(event, "event");
  const form = typeof payload === "string" ? payload : undefined;
  const hash = form !== undefined ? problemHashFromInputs(form) : undefined;
  const courseId = getString(event, "context.course_id");
  if (hash === undefined || courseId === undefined) return undefined;
  return blockUsageKey(courseId, "problem", hash);
}

/**
 * xAPI forum events (ERB forum_events.py): 18 names. Object id = {LMS} + context.path without the post id and
 * trailing "/" + "/" + id; comments and responses are grouped under their thread (data.discussion.id).
 */
import { isJsonObject, type EdxEvent, type JsonObject } from "../edx-event.js";
import { getString, payloadValue, pyStr } from "../field-access.js";
import type { TransformerRegistry } from "../registry.js";
import { lmsIri, type TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";
import { activity, verb, xapiContext, xapiStatement, type XapiVerb } from "./xapi-common.js";

const ACTIVITY_DISCUSSION = "http://id.tincanapi.com/activitytype/discussion";
const EXT_ACROSSX_TYPE = "https://w3id.org/xapi/acrossx/extensions/type";
const THREAD_PATH = "/api/discussion/v1/threads/";

const POSTED = verb("https://w3id.org/xapi/acrossx/verbs/posted", "posted");
const EDITED = verb("https://w3id.org/xapi/acrossx/verbs/edited", "edited");
const VIEWED = verb("http://id.tincanapi.com/verb/viewed", "viewed");
const DELETED = verb("https://w3id.org/xapi/dod-isd/verbs/deleted", "deleted");
const VOTED = verb("https://w3id.org/xapi/openedx/verb/voted", "voted");
const REPORTED = verb("https://w3id.org/xapi/acrossx/verbs/reported", "reported");
const UNREPORTED = verb("https://w3id.org/xapi/openedx/verb/unreported", "unreported");

/** Python's `path.replace(id, "").rstrip("/")`. */
function stripPostId(path: string, id: string): string {
  let p = id === "" ? path : path.split(id).join("");
  let end = p.length;
  while (end > 0 && p.charCodeAt(end - 1) === 47 /* "/" */) end--;
  p = p.slice(0, end);
  return p;
}

function forumStatement(v: XapiVerb, typeExtensionKey?: string) {
  return (event: EdxEvent, env: TransformEnv): JsonObject[] => {
    const rawId = payloadValue(event, "id");
    if (rawId === undefined) throw TransformSkip.missingField("data.id");
    const id = pyStr(rawId);
    const path = getString(event, "context.path");
    if (path === undefined) throw TransformSkip.missingField("context.path");
    const title = payloadValue(event, "title");
    const definition: JsonObject = {};
    if (title !== undefined) definition["name"] = { en: pyStr(title) };
    const discussion = payloadValue(event, "discussion");
    const threadId = isJsonObject(discussion) ? discussion["id"] : undefined;
    const contextActivities: JsonObject = {};
    if (threadId !== undefined && threadId !== null && threadId !== "") {
      contextActivities["grouping"] = [activity(lmsIri(env, `${THREAD_PATH}${pyStr(threadId)}`), ACTIVITY_DISCUSSION)];
    }
    const extensions: JsonObject = {};
    if (typeExtensionKey !== undefined) {
      const t = payloadValue(event, typeExtensionKey);
      if (t !== undefined) extensions[EXT_ACROSSX_TYPE] = t;
    }
    return [
      xapiStatement(event, env, {
        verb: v,
        object: activity(lmsIri(env, `${stripPostId(path, id)}/${id}`), ACTIVITY_DISCUSSION, definition),
        context: xapiContext(event, env, { contextActivities, extensions }),
      }),
    ];
  };
}

const OBJECT_ID = "{LMS}{context.path minus data.id, no trailing /}/{data.id}";
const mapping = (v: XapiVerb, result: string) => ({ verb: v.id, objectType: ACTIVITY_DISCUSSION, objectId: OBJECT_ID, result });
const GROUPING = "name (title); grouping thread {LMS}/api/discussion/v1/threads/{data.discussion.id}";

export function registerXapiForumEvents(registry: TransformerRegistry): void {
  registry
    .register(
      ["edx.forum.thread.created"],
      "forum",
      mapping(POSTED, `${GROUPING}; context ext acrossx type (thread_type)`),
      forumStatement(POSTED, "thread_type"),
    )
    .register(["edx.forum.response.created", "edx.forum.comment.created"], "forum", mapping(POSTED, GROUPING), forumStatement(POSTED))
    .register(
      ["edx.forum.thread.edited", "edx.forum.response.edited", "edx.forum.comment.edited"],
      "forum",
      mapping(EDITED, GROUPING),
      forumStatement(EDITED),
    )
    .register(["edx.forum.thread.viewed"], "forum", mapping(VIEWED, GROUPING), forumStatement(VIEWED))
    .register(
      ["edx.forum.thread.deleted", "edx.forum.response.deleted", "edx.forum.comment.deleted"],
      "forum",
      mapping(DELETED, GROUPING),
      forumStatement(DELETED),
    )
    .register(
      ["edx.forum.thread.voted", "edx.forum.response.voted"],
      "forum",
      mapping(VOTED, `${GROUPING}; context ext acrossx type (vote_value)`),
      forumStatement(VOTED, "vote_value"),
    )
    .register(
      ["edx.forum.thread.reported", "edx.forum.response.reported", "edx.forum.comment.reported"],
      "forum",
      mapping(REPORTED, GROUPING),
      forumStatement(REPORTED),
    )
    .register(
      ["edx.forum.thread.unreported", "edx.forum.response.unreported", "edx.forum.comment.unreported"],
      "forum",
      mapping(UNREPORTED, GROUPING),
      forumStatement(UNREPORTED),
    );
}

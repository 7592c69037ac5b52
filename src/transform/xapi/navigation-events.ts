/** xAPI navigation events (ERB navigation_events.py): verb "navigated" for links, outline and sequence tabs. */
import type { EdxEvent, JsonObject, JsonValue } from "../edx-event.js";
import { payloadValue, pyStr } from "../field-access.js";
import type { TransformerRegistry } from "../registry.js";
import { xblockIri, type TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";
import { ACTIVITY_RESOURCE } from "./grading-events.js";
import { activity, dropUndefined, verb, xapiContext, xapiStatement } from "./xapi-common.js";

const NAVIGATED = verb("https://w3id.org/xapi/dod-isd/verbs/navigated", "navigated");
const ACTIVITY_LINK = "http://adlnet.gov/expapi/activities/link";
const ACTIVITY_MODULE = "http://adlnet.gov/expapi/activities/module";
const EXT_TOTAL_ITEMS = "https://w3id.org/xapi/acrossx/extensions/total-items";
const EXT_STARTING_POSITION = "http://id.tincanapi.com/extension/starting-position";
const EXT_ENDING_POINT = "http://id.tincanapi.com/extension/ending-point";

function requirePayload(event: EdxEvent, key: string): string {
  const v = payloadValue(event, key);
  if (v === undefined) throw TransformSkip.missingField(`data.${key}`);
  return pyStr(v);
}

function linkClicked(event: EdxEvent, env: TransformEnv): JsonObject[] {
  return [
    xapiStatement(event, env, {
      verb: NAVIGATED,
      object: activity(requirePayload(event, "target_url"), ACTIVITY_LINK),
      context: xapiContext(event, env),
    }),
  ];
}

function outlineSelected(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const name = payloadValue(event, "target_name");
  const definition: JsonObject = {};
  if (name !== undefined) definition["name"] = { en: pyStr(name) };
  return [
    xapiStatement(event, env, {
      verb: NAVIGATED,
      object: activity(requirePayload(event, "target_url"), ACTIVITY_MODULE, definition),
      context: xapiContext(event, env),
    }),
  ];
}

function sequenceSelected(endingPoint: (event: EdxEvent) => JsonValue | undefined) {
  return (event: EdxEvent, env: TransformEnv): JsonObject[] => {
    const tabCount = payloadValue(event, "tab_count");
    return [
      xapiStatement(event, env, {
        verb: NAVIGATED,
        object: activity(xblockIri(env, requirePayload(event, "id")), ACTIVITY_RESOURCE, {
          extensions: dropUndefined({ [EXT_TOTAL_ITEMS]: tabCount }),
        }),
        context: xapiContext(event, env, {
          extensions: {
            [EXT_STARTING_POSITION]: payloadValue(event, "current_tab") ?? null,
            [EXT_ENDING_POINT]: endingPoint(event) ?? null,
          },
        }),
      }),
    ];
  };
}

const SEQUENCE_MAPPING = {
  verb: NAVIGATED.id,
  objectType: ACTIVITY_RESOURCE,
  objectId: "{LMS}/xblock/{data.id}",
  result: "def ext total-items (tab_count); context ext starting-position (current_tab), ending-point",
};

export function registerXapiNavigationEvents(registry: TransformerRegistry): void {
  registry
    .register(
      ["edx.ui.lms.link_clicked"],
      "navigation",
      { verb: NAVIGATED.id, objectType: ACTIVITY_LINK, objectId: "{data.target_url}", result: "" },
      linkClicked,
    )
    .register(
      ["edx.ui.lms.outline.selected", "edx.ui.lms.sequence.outline.selected"],
      "navigation",
      { verb: NAVIGATED.id, objectType: ACTIVITY_MODULE, objectId: "{data.target_url}", result: "name (target_name)" },
      outlineSelected,
    )
    .register(
      ["edx.ui.lms.sequence.next_selected"],
      "navigation",
      { ...SEQUENCE_MAPPING, result: `${SEQUENCE_MAPPING.result} = "next unit"` },
      sequenceSelected(() => "next unit"),
    )
    .register(
      ["edx.ui.lms.sequence.previous_selected"],
      "navigation",
      { ...SEQUENCE_MAPPING, result: `${SEQUENCE_MAPPING.result} = "previous unit"` },
      sequenceSelected(() => "previous unit"),
    )
    .register(
      ["edx.ui.lms.sequence.tab_selected"],
      "navigation",
      { ...SEQUENCE_MAPPING, result: `${SEQUENCE_MAPPING.result} = target_tab` },
      sequenceSelected((event) => payloadValue(event, "target_tab")),
    );
}

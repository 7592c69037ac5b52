/**
 * Caliper navigation (ERB caliper navigation_events.py): every name is a NavigationEvent / NavigatedTo.
 *  - sequence next/previous/tab: DigitalResourceCollection "Unit", the sequence's xblock IRI, with tab_count,
 *    current_tab and target ("next unit", "previous unit" or target_tab) as object extensions;
 *  - link_clicked: WebPage (ERB writes "Webpage", which is not a Caliper term) whose id is data.target_url;
 *  - outline.selected: DigitalResource whose id is data.target_url, named by target_name;
 *  - sequence.outline.selected: ERB sends it down the sequence branch (requires data.id). We do the same when the
 *    event has data.id, and otherwise treat it like outline.selected instead of dropping it.
 */
import type { EdxEvent, JsonObject, JsonValue } from "../edx-event.js";
import { payloadValue, pyStr } from "../field-access.js";
import type { TransformerRegistry } from "../registry.js";
import { xblockIri, type TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";
import { caliperEvent, caliperObject } from "./caliper-common.js";

const TYPE = "NavigationEvent";
const ACTION = "NavigatedTo";

function payloadString(event: EdxEvent, key: string): string | undefined {
  const v = payloadValue(event, key);
  return v === undefined ? undefined : pyStr(v);
}

function requirePayloadString(event: EdxEvent, key: string): string {
  const v = payloadString(event, key);
  if (v === undefined) throw TransformSkip.missingField(`data.${key}`);
  return v;
}

function sequenceObject(event: EdxEvent, env: TransformEnv, type: string, target: JsonValue | undefined): JsonObject {
  const blockId = requirePayloadString(event, "id");
  return caliperObject(
    event,
    env,
    type,
    xblockIri(env, blockId),
    { name: "Unit" },
    {
      tab_count: payloadValue(event, "tab_count"),
      current_tab: payloadValue(event, "current_tab"),
      target,
    },
  );
}

function sequenceEvent(fixedTarget?: string) {
  return (event: EdxEvent, env: TransformEnv): JsonObject[] => {
    const target = fixedTarget ?? payloadValue(event, "target_tab");
    return [
      caliperEvent(event, env, { type: TYPE, action: ACTION, object: sequenceObject(event, env, "DigitalResourceCollection", target) }),
    ];
  };
}

function linkClicked(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const object = caliperObject(event, env, "WebPage", requirePayloadString(event, "target_url"));
  return [caliperEvent(event, env, { type: TYPE, action: ACTION, object })];
}

function outlineObject(event: EdxEvent, env: TransformEnv): JsonObject {
  return caliperObject(event, env, "DigitalResource", requirePayloadString(event, "target_url"), {
    name: payloadString(event, "target_name"),
  });
}

function outlineSelected(event: EdxEvent, env: TransformEnv): JsonObject[] {
  return [caliperEvent(event, env, { type: TYPE, action: ACTION, object: outlineObject(event, env) })];
}

function sequenceOutlineSelected(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const object =
    payloadValue(event, "id") !== undefined
      ? sequenceObject(event, env, "DigitalResource", payloadValue(event, "target_tab"))
      : outlineObject(event, env);
  return [caliperEvent(event, env, { type: TYPE, action: ACTION, object })];
}

const VERB = `${TYPE} / ${ACTION}`;

export function registerCaliperNavigationEvents(registry: TransformerRegistry): void {
  const unit = {
    verb: VERB,
    objectType: "DigitalResourceCollection",
    objectId: "{LMS}/xblock/{data.id}",
    result: 'object.name "Unit", object.extensions tab_count, current_tab, target',
  };
  registry
    .register(["edx.ui.lms.sequence.next_selected"], "navigation", unit, sequenceEvent("next unit"))
    .register(["edx.ui.lms.sequence.previous_selected"], "navigation", unit, sequenceEvent("previous unit"))
    .register(["edx.ui.lms.sequence.tab_selected"], "navigation", unit, sequenceEvent())
    .register(
      ["edx.ui.lms.link_clicked"],
      "navigation",
      { verb: VERB, objectType: "WebPage", objectId: "{data.target_url}", result: "" },
      linkClicked,
    )
    .register(
      ["edx.ui.lms.outline.selected"],
      "navigation",
      { verb: VERB, objectType: "DigitalResource", objectId: "{data.target_url}", result: "object.name = data.target_name" },
      outlineSelected,
    )
    .register(
      ["edx.ui.lms.sequence.outline.selected"],
      "navigation",
      {
        verb: VERB,
        objectType: "DigitalResource",
        objectId: "{LMS}/xblock/{data.id}, else {data.target_url}",
        result: 'with data.id: object.name "Unit", tab_count, current_tab, target; else object.name = data.target_name',
      },
      sequenceOutlineSelected,
    );
}

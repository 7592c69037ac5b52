/** xAPI block completion (ERB completion_events.py): verb "progressed", completion and cmi5 progress. */
import type { EdxEvent, JsonObject } from "../edx-event.js";
import { toNumber } from "../edx-fields.js";
import { payloadValue, pyStr } from "../field-access.js";
import type { TransformerRegistry } from "../registry.js";
import { xblockIri, type TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";
import { ACTIVITY_RESOURCE } from "./grading-events.js";
import { activity, verb, xapiContext, xapiResult, xapiStatement } from "./xapi-common.js";

const PROGRESSED = verb("http://adlnet.gov/expapi/verbs/progressed", "progressed");
const EXT_PROGRESS = "https://w3id.org/xapi/cmi5/result/extensions/progress";

function blockCompletion(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const blockId = payloadValue(event, "block_id");
  if (blockId === undefined) throw TransformSkip.missingField("data.block_id");
  const completion = toNumber(payloadValue(event, "completion")) ?? 0;
  return [
    xapiStatement(event, env, {
      verb: PROGRESSED,
      object: activity(xblockIri(env, pyStr(blockId)), ACTIVITY_RESOURCE),
      result: xapiResult({ completion: completion === 1.0, extensions: { [EXT_PROGRESS]: completion * 100 } }),
      context: xapiContext(event, env),
    }),
  ];
}

export function registerXapiCompletionEvents(registry: TransformerRegistry): void {
  registry.register(
    ["edx.completion.block_completion.changed"],
    "completion",
    {
      verb: PROGRESSED.id,
      objectType: ACTIVITY_RESOURCE,
      objectId: "{LMS}/xblock/{data.block_id}",
      result: "completion (completion == 1.0), ext cmi5 progress (completion × 100)",
    },
    blockCompletion,
  );
}

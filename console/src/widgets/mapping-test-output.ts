/**
 * What TestMapping said about a mapping on one event, as the mapping editor shows it beside the editor: whether the
 * mapping would be used for the event's name, the skip reason when a condition failed or a limit was reached, every
 * validation problem (each naming the statement and the field), and the statements as they would be published.
 */
import type { TestMappingResponse } from "../../../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { h, prettyJson } from "../dom.js";

export function mappingTestOutput(res: TestMappingResponse): Array<HTMLElement | null> {
  const verdict = res.skipped
    ? `Skipped: ${res.reason}`
    : res.problems.length > 0
      ? `${res.statements.length} statement(s), ${res.problems.length} invalid`
      : `${res.statements.length} valid statement(s)`;
  return [
    h("h2", { id: "test-title" }, verdict),
    res.matches ? null : h("p", { class: "notice" }, "The event's name is not one of the mapping's events: it would not be used for it."),
    res.problems.length > 0 ? h("ul", { class: "error", "data-problems": "" }, ...res.problems.map((p) => h("li", {}, p))) : null,
    ...res.statements.map((s) => prettyJson(s)),
  ];
}

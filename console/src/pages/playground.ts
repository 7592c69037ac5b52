/**
 * Playground: a tracking event (pasted, either shape, or one of the samples shipped in console/samples/, made
 * from ERB's raw fixtures) through the Transform RPC: the statements per backend and the routers whose
 * match_params would receive them. Nothing is published.
 */
import { Backend, Outcome } from "../../../gen/eventrouting/v1/event_pb.js";
import type { TransformResponse } from "../../../gen/eventrouting/v1/event_routing_service_pb.js";
import enrollment from "../../samples/edx.course.enrollment.activated.json";
import forumThread from "../../samples/edx.forum.thread.created.json";
import playVideo from "../../samples/play_video.json";
import problemCheck from "../../samples/problem_check.server.json";
import { describeError } from "../api.js";
import { clear, field, h, prettyJson, select } from "../dom.js";
import type { Page } from "../page.js";
import { BACKEND_LABEL } from "./routers.js";

const SAMPLES: Record<string, unknown> = {
  "edx.course.enrollment.activated": enrollment,
  play_video: playVideo,
  "problem_check (server)": problemCheck,
  "edx.forum.thread.created": forumThread,
};

const OUTCOME: Record<Outcome, string> = {
  [Outcome.UNSPECIFIED]: "—",
  [Outcome.PUBLISHED]: "transformed",
  [Outcome.FILTERED]: "filtered",
  [Outcome.NO_TRANSFORMER]: "no transformer",
  [Outcome.SKIPPED]: "skipped",
  [Outcome.INVALID]: "invalid",
  [Outcome.DUPLICATE]: "duplicate",
};

export const playgroundPage: Page = (main, ctx) => {
  const form = playgroundForm();
  const out = h("section", { "aria-labelledby": "out-title", "aria-live": "polite" });
  clear(
    main,
    h("h1", { tabindex: -1 }, "Playground"),
    h("p", { class: "muted" }, "See what an event becomes and which routers would receive it. Nothing is sent."),
    form.element,
    out,
  );
  form.element.addEventListener("submit", (ev) => {
    ev.preventDefault();
    form.error.textContent = "";
    const backends = form.backends();
    if (backends.length === 0) {
      form.error.textContent = "Choose at least one backend.";
      return;
    }
    ctx.api.events.transform({ event: { event: { case: "json", value: form.event.value } }, backends }).then(
      (res) => clear(out, ...transformResult(res)),
      (e: unknown) => (form.error.textContent = describeError(e).message),
    );
  });
  return undefined;
};

interface PlaygroundForm {
  readonly element: HTMLFormElement;
  readonly event: HTMLTextAreaElement;
  readonly error: HTMLParagraphElement;
  /** The backends ticked, in the order the RPC lists them. */
  backends(): Backend[];
}

/** A sample picker that fills the event box, the event box, the backends to transform for, and "Transform". */
function playgroundForm(): PlaygroundForm {
  const sample = select("sample", [["", "Choose a sample…"], ...Object.keys(SAMPLES).map((k) => [k, k] as const)]);
  const event = h("textarea", {
    name: "event",
    rows: 14,
    spellcheck: "false",
    placeholder: '{"name": "...", "timestamp": "...", "context": {...}, "data": {...}}',
  });
  const xapi = h("input", { type: "checkbox", name: "xapi", id: "b-xapi", checked: true });
  const caliper = h("input", { type: "checkbox", name: "caliper", id: "b-caliper" });
  const error = h("p", { class: "error", role: "alert" });
  sample.addEventListener("change", () => {
    if (sample.value) event.value = JSON.stringify(SAMPLES[sample.value], null, 2);
  });
  const element = h(
    "form",
    { class: "playground" },
    field("Sample", sample),
    field("Tracking event (live tracker or tracking-log shape)", event),
    h(
      "fieldset",
      { class: "inline" },
      h("legend", {}, "Backends"),
      h("span", {}, xapi, h("label", { for: "b-xapi" }, "xAPI")),
      h("span", {}, caliper, h("label", { for: "b-caliper" }, "Caliper")),
    ),
    h("div", { class: "form-actions" }, h("button", { type: "submit" }, "Transform")),
    error,
  );
  return {
    element,
    event,
    error,
    backends: () => [...(xapi.checked ? [Backend.XAPI] : []), ...(caliper.checked ? [Backend.CALIPER] : [])],
  };
}

/** The outcome (with the reasons a backend gave), then per backend its statements and the routers that would get them. */
function transformResult(res: TransformResponse): Array<HTMLElement | null> {
  const result = res.result;
  const reasons = (result?.backends ?? [])
    .filter((b) => b.reason)
    .map((b) => h("li", {}, `${BACKEND_LABEL[b.backend]}: ${OUTCOME[b.outcome]} (${b.reason})`));
  return [
    h("h2", { id: "out-title" }, `Result: ${result ? OUTCOME[result.outcome] : "—"}${result?.name ? ` · ${result.name}` : ""}`),
    result?.reason ? h("p", { class: "error" }, result.reason) : null,
    reasons.length ? h("ul", {}, ...reasons) : null,
    ...res.outputs.map((o) =>
      h(
        "section",
        { class: "output", "data-backend": BACKEND_LABEL[o.backend] },
        h("h3", {}, `${BACKEND_LABEL[o.backend]}: ${o.statements.length} statement(s)`),
        h(
          "p",
          { class: "routers" },
          o.routerIds.length ? `Routers that would receive them: ${o.routerIds.join(", ")}` : "No router would receive them.",
        ),
        ...o.statements.map((s) => prettyJson(s)),
      ),
    ),
  ];
}

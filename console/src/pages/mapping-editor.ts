/**
 * The mapping editor ("#/mappings/new", "#/mappings/<id>"), beside the playground's pattern: the mapping as JSON
 * (the Mapping message's JSON form, the same as a mapping file; "xapi" / "caliper" accepted for the backend) on
 * the left, an event on the right (pasted, or one of the mapping's own samples), "Test" runs TestMapping on the
 * inline mapping and shows its statements and problems, "Save" creates or replaces the stored mapping. The service
 * checks the mapping on its samples at save; a refusal names the field ("mapping.samples[0]: statement 0: ...").
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: mapping templates use ${...} in plain strings.
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { MappingSchema, type Mapping } from "../../../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { describeError } from "../api.js";
import { clear, field, h, select } from "../dom.js";
import type { Page, PageContext } from "../page.js";
import { mappingTestOutput } from "../widgets/mapping-test-output.js";

/** Fields the service fills; left out of the editor so a save does not send them back. */
const OUTPUT_ONLY = ["create_time", "update_time", "revision", "builtin_overlap"];

const NEW_MAPPING = {
  id: "my-mapping",
  backend: "BACKEND_XAPI",
  event_names: ["edx.bookmark.added"],
  conditions: [{ require: "payload('component_usage_id')", skip_reason: "no bookmarked component" }],
  statements: [
    {
      verb: { id: "http://id.tincanapi.com/verb/bookmarked", display: { en: "bookmarked" } },
      object: { id: "${xblock_iri(payload('component_usage_id'))}", definition: { type: "http://adlnet.gov/expapi/activities/module" } },
    },
  ],
  samples: [],
};

export function mappingText(m: Mapping): string {
  const doc = toJson(MappingSchema, m, { useProtoFieldName: true }) as Record<string, unknown>;
  for (const k of OUTPUT_ONLY) delete doc[k];
  return JSON.stringify(doc, null, 2);
}

/** The editor's text as a Mapping; throws an Error saying what is wrong with it. */
export function parseMapping(text: string): Mapping {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`The mapping is not valid JSON: ${(e as Error).message}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new Error("The mapping must be one JSON object.");
  const d = { ...(doc as Record<string, unknown>) };
  const backend = typeof d["backend"] === "string" ? d["backend"].toLowerCase() : "";
  if (backend === "xapi" || backend === "caliper") d["backend"] = `BACKEND_${backend.toUpperCase()}`;
  for (const k of OUTPUT_ONLY) delete d[k];
  return fromJson(MappingSchema, d as JsonValue);
}

export const mappingEditorPage: Page = (main, ctx, id) => {
  const editor = editorForm(id);
  const out = h("section", { "aria-labelledby": "test-title", "aria-live": "polite", class: "mapping-test" });
  clear(
    main,
    h("h1", { tabindex: -1 }, id ? `Mapping ${id}` : "New mapping"),
    h("p", { class: "muted" }, "Paste an event to see the statements the mapping builds; save when they are right. Test sends nothing."),
    h(
      "div",
      { class: "columns" },
      h("section", { "aria-label": "Mapping" }, editor.element),
      h("section", { "aria-label": "Event" }, editor.eventPart, out),
    ),
  );
  wireEditor(ctx, editor, out, id);
  if (id) {
    ctx.api.mappings.getMapping({ id }).then(
      (res) => {
        if (res.mapping) editor.mapping.value = mappingText(res.mapping);
        editor.refreshSamples();
      },
      (e: unknown) => (editor.error.textContent = describeError(e).message),
    );
  } else {
    editor.mapping.value = JSON.stringify(NEW_MAPPING, null, 2);
  }
  return undefined;
};

interface EditorForm {
  readonly element: HTMLFormElement;
  readonly eventPart: HTMLElement;
  readonly mapping: HTMLTextAreaElement;
  readonly event: HTMLTextAreaElement;
  readonly error: HTMLParagraphElement;
  readonly test: HTMLButtonElement;
  /** Lists the samples of the mapping as written now in the sample picker. */
  refreshSamples(): void;
}

function editorForm(id: string | undefined): EditorForm {
  const mapping = h("textarea", { name: "mapping", rows: 28, spellcheck: "false" });
  const event = h("textarea", {
    name: "event",
    rows: 12,
    spellcheck: "false",
    placeholder: '{"name": "...", "timestamp": "...", "context": {...}, "data": {...}}',
  });
  const sample = select("sample", [["", "Use one of the mapping's samples…"]]);
  const error = h("p", { class: "error", role: "alert" });
  const test = h("button", { type: "button", class: "secondary" }, "Test");
  const element = h(
    "form",
    { class: "mapping-editor" },
    field("Mapping (JSON, as in a mapping file)", mapping, "Expressions go in ${...}; see docs/custom-mappings.md."),
    h(
      "div",
      { class: "form-actions" },
      h("button", { type: "submit" }, id ? "Save" : "Create"),
      h("a", { href: "#/mappings", class: "button secondary" }, "Cancel"),
    ),
    error,
  );
  const eventPart = h(
    "div",
    {},
    field("Sample", sample),
    field("Tracking event (live tracker or tracking-log shape)", event),
    h("div", { class: "form-actions" }, test),
  );
  const refreshSamples = (): void => {
    let samples: unknown[] = [];
    try {
      samples = (JSON.parse(mapping.value) as { samples?: unknown[] }).samples ?? [];
    } catch {
      // Not JSON yet: keep the picker empty; Test and Save say what is wrong.
    }
    clear(
      sample,
      h("option", { value: "" }, "Use one of the mapping's samples…"),
      ...samples.map((_, i) => h("option", { value: String(i) }, `Sample ${i + 1}`)),
    );
  };
  mapping.addEventListener("change", refreshSamples);
  sample.addEventListener("change", () => {
    const samples = (JSON.parse(mapping.value) as { samples?: unknown[] }).samples ?? [];
    if (sample.value !== "") event.value = JSON.stringify(samples[Number(sample.value)], null, 2);
  });
  return { element, eventPart, mapping, event, error, test, refreshSamples };
}

/** Test runs TestMapping on the inline mapping; Save creates or replaces it (an empty mask: every field). */
function wireEditor(ctx: PageContext, editor: EditorForm, out: HTMLElement, id: string | undefined): void {
  const parsed = (): Mapping | undefined => {
    editor.error.textContent = "";
    try {
      return parseMapping(editor.mapping.value);
    } catch (e) {
      editor.error.textContent = (e as Error).message;
      return undefined;
    }
  };
  editor.test.addEventListener("click", () => {
    const mapping = parsed();
    if (!mapping) return;
    if (editor.event.value.trim() === "") {
      editor.error.textContent = "Paste an event (or pick a sample) to test the mapping on.";
      return;
    }
    ctx.api.mappings.testMapping({ mapping, event: { event: { case: "json", value: editor.event.value } } }).then(
      (res) => clear(out, ...mappingTestOutput(res)),
      (e: unknown) => (editor.error.textContent = describeError(e).message),
    );
  });
  editor.element.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const mapping = parsed();
    if (!mapping) return;
    const save = id
      ? ctx.api.mappings.updateMapping({ mapping: { ...mapping, id }, updateMask: { paths: [] } })
      : ctx.api.mappings.createMapping({ mapping });
    save.then(
      (res) => ctx.go("#/mappings", res.warnings),
      (e: unknown) => (editor.error.textContent = describeError(e).message),
    );
  });
}

/**
 * Custom mappings: every mapping with the events it handles, whether it replaces a built-in transformer and which
 * built-in events it overlaps, with Edit and Delete; and a look-up of the transformer active for an event name
 * per backend (ListMappings with event_name), the same answer Transform's results carry.
 */
import type { ListMappingsResponse, Mapping } from "../../../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { describeError } from "../api.js";
import { clear, field, h, statusLine } from "../dom.js";
import type { Page, PageContext } from "../page.js";
import { BACKEND_LABEL } from "./routers.js";

export const mappingsPage: Page = (main, ctx) => {
  const status = statusLine();
  const body = h("div", {}, h("p", {}, "Loading…"));
  let stopped = false;
  const load = async (): Promise<void> => {
    const { mappings } = await ctx.api.mappings.listMappings({});
    if (stopped) return;
    clear(
      body,
      mappings.length === 0
        ? h(
            "p",
            {},
            "No custom mappings yet. ",
            h("a", { href: "#/mappings/new" }, "Write one"),
            " for an event no built-in transformer handles.",
          )
        : mappingsTable(mappings, (id) => void remove(ctx, id, status).then((done) => (done ? load() : undefined))),
    );
  };
  clear(
    main,
    h(
      "div",
      { class: "page-head" },
      h("h1", { tabindex: -1 }, "Custom mappings"),
      h("div", { class: "actions" }, h("a", { href: "#/mappings/new", class: "button" }, "New mapping")),
    ),
    status,
    body,
    activeLookup(ctx),
  );
  load().catch((e: unknown) => clear(body, h("p", { class: "error", role: "alert" }, describeError(e).message)));
  return () => {
    stopped = true;
  };
};

async function remove(ctx: PageContext, id: string, status: HTMLElement): Promise<boolean> {
  if (!window.confirm(`Delete mapping "${id}"? Its events go back to the built-in transformer, or to "no transformer".`)) return false;
  try {
    await ctx.api.mappings.deleteMapping({ id });
    status.textContent = `Deleted ${id}.`;
    return true;
  } catch (e) {
    status.textContent = `Delete ${id} failed: ${describeError(e).message}`;
    return false;
  }
}

function eventsText(m: Mapping): string {
  return [...m.eventNames, ...(m.eventPattern ? [`/${m.eventPattern}/`] : [])].join(", ");
}

function mappingsTable(mappings: readonly Mapping[], onDelete: (id: string) => void): HTMLTableElement {
  const cols = ["Mapping", "Backend", "Events", "Replaces built-in", "Enabled", "Revision", "Overlaps built-in", "Actions"];
  return h(
    "table",
    {},
    h("caption", { class: "visually-hidden" }, "Custom mappings"),
    h("thead", {}, h("tr", {}, ...cols.map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      ...mappings.map((m) =>
        h(
          "tr",
          { "data-mapping": m.id },
          h(
            "th",
            { scope: "row" },
            h("a", { href: `#/mappings/${m.id}`, class: "id" }, m.id),
            m.displayName ? h("div", { class: "muted" }, m.displayName) : null,
          ),
          h("td", {}, BACKEND_LABEL[m.backend]),
          h("td", { class: "id" }, eventsText(m)),
          h("td", {}, m.replaceBuiltin ? "yes" : "no"),
          h("td", {}, m.disabled ? "no" : "yes"),
          h("td", { class: "num" }, String(m.revision)),
          h("td", { class: "muted" }, m.builtinOverlap.join(", ") || "—"),
          h(
            "td",
            { class: "actions" },
            h("a", { href: `#/mappings/${m.id}`, class: "button small", "aria-label": `Edit ${m.id}` }, "Edit"),
            h("button", { type: "button", class: "small danger", "aria-label": `Delete ${m.id}`, onclick: () => onDelete(m.id) }, "Delete"),
          ),
        ),
      ),
    ),
  );
}

/** "Which transformer handles this event?": the active transformer per backend for a name. */
function activeLookup(ctx: PageContext): HTMLElement {
  const name = h("input", { name: "event-name", placeholder: "edx.bookmark.added", spellcheck: "false", required: true });
  const out = h("div", { "aria-live": "polite", "data-active": "" });
  const form = h(
    "form",
    { class: "filters" },
    field("Event name", name),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "secondary" }, "Show")),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    ctx.api.mappings.listMappings({ eventName: name.value.trim() }).then(
      (res) => clear(out, activeList(res)),
      (e: unknown) => clear(out, h("p", { class: "error", role: "alert" }, describeError(e).message)),
    );
  });
  return h(
    "section",
    { "aria-labelledby": "active-title" },
    h("h2", { id: "active-title" }, "Which transformer handles an event?"),
    form,
    out,
  );
}

function activeList(res: ListMappingsResponse): HTMLElement {
  const label = (t: string) => (t === "" ? "none (no transformer)" : t);
  return h(
    "ul",
    {},
    ...res.active.map((a) => h("li", { "data-backend": BACKEND_LABEL[a.backend] }, `${BACKEND_LABEL[a.backend]}: ${label(a.transformer)}`)),
    ...(res.active.length === 0 ? [h("li", {}, "No backend answered.")] : []),
  );
}

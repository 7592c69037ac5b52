/**
 * Rejected input (ListRejected): what the event-bus and NATS inputs refused (bad Avro, missing fields, invalid
 * JSON), each with its reason and time, oldest first, paged with the RPC's tokens; one entry's input shown whole
 * (pretty JSON when it is JSON, base64 when it is not text); PurgeRejected for the selected ids or for everything
 * stored, after a confirmation.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { RejectedEntry } from "../../../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { describeError } from "../api.js";
import { clear, field, formatTime, h, rowCheckboxes, statusLine } from "../dom.js";
import type { Page } from "../page.js";

/** The input as text: as received when it is text, base64 when it is not (binary Avro, other bytes). */
export function inputText(e: RejectedEntry): string {
  if (e.input.case === "inputText") return e.input.value;
  if (e.input.case === "inputBytes") {
    let bin = "";
    for (const b of e.input.value) bin += String.fromCharCode(b);
    return `base64:${btoa(bin)}`;
  }
  return "";
}

/** JSON indented for reading; anything else as it is. */
function readable(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export const rejectedPage: Page = (main, ctx) => {
  const status = statusLine();
  const source = h(
    "select",
    { name: "source" },
    h("option", { value: "" }, "All inputs"),
    h("option", { value: "event-bus-redis" }, "Event bus (Redis)"),
    h("option", { value: "nats" }, "NATS ingest"),
  );
  const pageSize = h("select", { name: "page_size" }, ...[25, 50, 100, 500].map((n) => h("option", { value: String(n) }, String(n))));
  const filters = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter rejected input" },
    field("Input", source),
    field("Per page", pageSize),
    h("div", { class: "form-actions" }, h("button", { type: "submit" }, "Apply filters")),
  );
  const table = h("div", {}, h("p", {}, "Loading…"));
  const detail = h("section", { "aria-labelledby": "rejected-title", class: "detail", hidden: true });
  const prev = h("button", { type: "button", class: "secondary" }, "Previous page");
  const next = h("button", { type: "button", class: "secondary" }, "Next page");
  const purgeSel = h("button", { type: "button", class: "danger" }, "Purge selected");
  const purgeAll = h("button", { type: "button", class: "danger" }, "Purge all");
  clear(
    main,
    h("h1", { tabindex: -1 }, "Rejected input"),
    h(
      "p",
      { class: "muted" },
      "Malformed input the event bus and NATS ingest inputs refused and acknowledged, kept with the reason (30 days at most).",
    ),
    filters,
    h("div", { class: "toolbar", role: "group", "aria-label": "Actions" }, purgeSel, purgeAll),
    status,
    table,
    h("div", { class: "pager" }, prev, next),
    detail,
  );

  let filterSource = "";
  const tokens: string[] = [""];
  let page = 0;
  let nextToken = "";
  const selected = new Set<bigint>();
  let stopped = false;

  const show = (e: RejectedEntry): void => {
    detail.hidden = false;
    const cutNote = e.originalSize > 0n ? ` · cut from ${e.originalSize} bytes` : "";
    clear(
      detail,
      h("h2", { id: "rejected-title", tabindex: -1 }, `Rejected input #${e.id}`),
      h("p", {}, `${e.source} · ${e.origin} · ${e.sourceId}${cutNote}`),
      h("p", { class: "error-text" }, e.reason),
      h("pre", { class: "json", tabindex: 0, "aria-label": "Input as received" }, readable(inputText(e))),
    );
    detail.querySelector<HTMLElement>("h2")?.focus();
  };

  const load = async (): Promise<void> => {
    const res = await ctx.api.ingest.listRejected({
      source: filterSource,
      pageSize: Number(pageSize.value),
      pageToken: tokens[page] ?? "",
    });
    if (stopped) return;
    const rows = res.rejected;
    nextToken = res.nextPageToken;
    selected.clear();
    prev.disabled = page === 0;
    next.disabled = nextToken === "";
    if (rows.length === 0) {
      clear(table, h("p", {}, page === 0 ? "No rejected input." : "No more rejected input."));
      return;
    }
    const { all, boxes } = rowCheckboxes(rows, selected);
    clear(
      table,
      h(
        "table",
        {},
        h("caption", { class: "visually-hidden" }, "Rejected input"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, all),
            ...["Id", "Rejected at", "Input", "Source id", "Reason", "Content", ""].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        h(
          "tbody",
          {},
          ...rows.map((e, i) =>
            h(
              "tr",
              { "data-rejected": String(e.id) },
              h("td", {}, boxes[i]!),
              h("td", { class: "num" }, String(e.id)),
              h("td", { class: "time" }, formatTime(e.rejectedTime ? timestampDate(e.rejectedTime) : undefined)),
              h("td", { class: "id" }, e.source),
              h("td", { class: "id" }, e.sourceId),
              h("td", { class: "error-text", "data-col": "reason" }, e.reason),
              h("td", {}, h("code", { class: "preview", "data-col": "input" }, inputText(e))),
              h(
                "td",
                {},
                h("button", { type: "button", class: "small secondary", "aria-label": `View #${e.id}`, onclick: () => show(e) }, "View"),
              ),
            ),
          ),
        ),
      ),
    );
  };
  const reload = (): void => {
    load().catch((e: unknown) => clear(table, h("p", { class: "error", role: "alert" }, describeError(e).message)));
  };

  const purge = (which: "selected" | "all"): void => {
    const ids = [...selected];
    if (which === "selected" && ids.length === 0) {
      status.textContent = "Select entries to purge first.";
      return;
    }
    const what =
      which === "selected" ? `${ids.length} selected entr${ids.length === 1 ? "y" : "ies"}` : "EVERY rejected entry (all inputs)";
    if (!window.confirm(`Purge ${what}? They are deleted for good: they are the only trace of what was refused.`)) return;
    ctx.api.ingest.purgeRejected(which === "selected" ? { ids } : { all: true }).then(
      (r) => {
        status.textContent = `${r.purged} purged.`;
        page = 0;
        tokens.length = 1;
        reload();
      },
      (e: unknown) => (status.textContent = `Purge failed: ${describeError(e).message}`),
    );
  };

  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    filterSource = source.value;
    page = 0;
    tokens.length = 1;
    reload();
  });
  prev.addEventListener("click", () => {
    page = Math.max(0, page - 1);
    reload();
  });
  next.addEventListener("click", () => {
    tokens[page + 1] = nextToken;
    page++;
    reload();
  });
  purgeSel.addEventListener("click", () => purge("selected"));
  purgeAll.addEventListener("click", () => purge("all"));
  reload();
  return () => {
    stopped = true;
  };
};

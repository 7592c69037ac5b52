/**
 * Rejected input (ListRejected): what the event-bus and NATS inputs refused (bad Avro, missing fields, invalid
 * JSON), each with its reason and time, oldest first, paged with the RPC's tokens; one entry's input shown whole
 * (pretty JSON when it is JSON, base64 when it is not text); PurgeRejected for the selected ids or for everything
 * stored, after a confirmation. The paged, selectable table is widgets/paged-table.ts; this module says what an
 * entry shows and what a purge sends.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { RejectedEntry } from "../../../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { field, formatTime, h, select } from "../dom.js";
import type { Page, PageContext } from "../page.js";
import { pagedTable, type BulkAction } from "../widgets/paged-table.js";

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
  const source = select("source", [
    ["", "All inputs"],
    ["event-bus-redis", "Event bus (Redis)"],
    ["nats", "NATS ingest"],
  ]);
  return pagedTable<RejectedEntry, string>(main, {
    title: "Rejected input",
    intro: "Malformed input the event bus and NATS ingest inputs refused and acknowledged, kept with the reason (30 days at most).",
    filter: { label: "Filter rejected input", fields: [field("Input", source)], initial: "", read: () => source.value },
    list: async (filterSource, pageSize, pageToken) => {
      const res = await ctx.api.ingest.listRejected({ source: filterSource, pageSize, pageToken });
      return { rows: res.rejected, nextPageToken: res.nextPageToken };
    },
    rowAttribute: "data-rejected",
    columns: ["Rejected at", "Input", "Source id", "Reason", "Content"],
    cells,
    empty: { firstPage: "No rejected input.", laterPage: "No more rejected input." },
    detail: { headingId: "rejected-title", heading: (e) => `Rejected input #${e.id}`, body: detailBody },
    actions: [purge(ctx, "selected"), purge(ctx, "all")],
  });
};

function cells(e: RejectedEntry): HTMLTableCellElement[] {
  return [
    h("td", { class: "time" }, formatTime(e.rejectedTime ? timestampDate(e.rejectedTime) : undefined)),
    h("td", { class: "id" }, e.source),
    h("td", { class: "id" }, e.sourceId),
    h("td", { class: "error-text", "data-col": "reason" }, e.reason),
    h("td", {}, h("code", { class: "preview", "data-col": "input" }, inputText(e))),
  ];
}

/** Where the entry came from, why it was refused, and its input whole. */
function detailBody(e: RejectedEntry): Node[] {
  const cutNote = e.originalSize > 0n ? ` · cut from ${e.originalSize} bytes` : "";
  return [
    h("p", {}, `${e.source} · ${e.origin} · ${e.sourceId}${cutNote}`),
    h("p", { class: "error-text" }, e.reason),
    h("pre", { class: "json", tabindex: 0, "aria-label": "Input as received" }, readable(inputText(e))),
  ];
}

/** Purge the selected entries, or every entry stored whatever the filter (PurgeRejected's all = true). */
function purge(ctx: PageContext, which: "selected" | "all"): BulkAction<bigint, string> {
  const onSelected = which === "selected";
  return {
    label: onSelected ? "Purge selected" : "Purge all",
    danger: true,
    verb: "Purge",
    ...(onSelected ? { nothingSelected: "Select entries to purge first." } : {}),
    question: (ids) => {
      const what = onSelected ? `${ids.length} selected entr${ids.length === 1 ? "y" : "ies"}` : "EVERY rejected entry (all inputs)";
      return `Purge ${what}? They are deleted for good: they are the only trace of what was refused.`;
    },
    run: (ids) => ctx.api.ingest.purgeRejected(onSelected ? { ids } : { all: true }).then((r) => `${r.purged} purged`),
  };
}

/**
 * Failed statements (ListFailed): filters, pages (the RPC's page tokens, kept in a stack for "Previous"), one
 * statement as pretty JSON, and RetryFailed / PurgeFailed for the selected ids or for everything matching the
 * filter (all = true), each after a confirmation that says how much it touches. The paged, selectable table is
 * widgets/paged-table.ts; this module says what a failed statement shows and what the actions send.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { FailedFilterSchema, FailedStatement } from "../../../gen/eventrouting/v1/event_routing_service_pb.js";
import { field, formatTime, h, prettyJson } from "../dom.js";
import type { Page, PageContext } from "../page.js";
import { pagedTable, type BulkAction } from "../widgets/paged-table.js";

type Filter = MessageInitShape<typeof FailedFilterSchema>;
type Verb = "Retry" | "Purge";

const CONSEQUENCE: Record<Verb, string> = {
  Retry: "They are sent to their routers again.",
  Purge: "They are deleted for good.",
};

export const failedPage: Page = (main, ctx) => {
  const filter = filterForm();
  return pagedTable<FailedStatement, Filter>(main, {
    title: "Failed statements",
    intro: "Statements that exhausted their delivery attempts. Retry sends them to their router again.",
    filter: { label: "Filter failed statements", fields: filter.fields, initial: {}, read: filter.read },
    list: async (f, pageSize, pageToken) => {
      const res = await ctx.api.events.listFailed({ filter: f, pageSize, pageToken });
      return { rows: res.failed, nextPageToken: res.nextPageToken };
    },
    rowAttribute: "data-failed",
    columns: ["Router", "Event", "Attempts", "HTTP", "Last error", "Failed at"],
    cells,
    empty: { firstPage: "No failed statements match.", laterPage: "No more failed statements." },
    detail: {
      headingId: "statement-title",
      heading: (f) => `Failed statement #${f.id}`,
      body: (f) => [
        h("p", {}, `${f.routerId} · ${f.eventName} · ${f.attempts} attempts · HTTP ${f.lastHttpStatus || "none"} · ${f.lastError}`),
        prettyJson(f.statement ?? {}),
      ],
    },
    actions: [action(ctx, "Retry", "selected"), action(ctx, "Purge", "selected"), action(ctx, "Retry", "all"), action(ctx, "Purge", "all")],
  });
};

/** Router id, event name and a time range, read into ListFailed's filter (the times in the browser's zone). */
function filterForm(): { fields: HTMLElement[]; read: () => Filter } {
  const routerId = h("input", { name: "router_id", type: "text", spellcheck: "false" });
  const eventName = h("input", { name: "event_name", type: "text", spellcheck: "false" });
  const start = h("input", { name: "start_time", type: "datetime-local", step: "1" });
  const end = h("input", { name: "end_time", type: "datetime-local", step: "1" });
  return {
    fields: [field("Router id", routerId), field("Event name", eventName), field("Failed from", start), field("Failed before", end)],
    read: () => ({
      routerId: routerId.value.trim(),
      eventName: eventName.value.trim(),
      ...(start.value ? { startTime: timestampFromDate(new Date(start.value)) } : {}),
      ...(end.value ? { endTime: timestampFromDate(new Date(end.value)) } : {}),
    }),
  };
}

function cells(f: FailedStatement): HTMLTableCellElement[] {
  return [
    h("td", { class: "id" }, f.routerId),
    h("td", {}, f.eventName),
    h("td", { class: "num" }, String(f.attempts)),
    h("td", { class: "num" }, f.lastHttpStatus ? String(f.lastHttpStatus) : "—"),
    f.lastError ? h("td", { class: "error-text" }, f.lastError) : h("td", { class: "muted" }, "—"),
    h("td", { class: "time" }, formatTime(f.failedTime ? timestampDate(f.failedTime) : undefined)),
  ];
}

/** Retry or purge the selected statements, or everything the applied filter matches (all = true). */
function action(ctx: PageContext, verb: Verb, which: "selected" | "all"): BulkAction<bigint, Filter> {
  const onSelected = which === "selected";
  return {
    label: onSelected ? `${verb} selected` : `${verb} all matching`,
    danger: verb === "Purge",
    verb,
    ...(onSelected ? { nothingSelected: `Select statements to ${verb.toLowerCase()} first.` } : {}),
    question: (ids, filter) =>
      `${verb} ${onSelected ? `${ids.length} selected statement(s)` : describeFilter(filter)}? ${CONSEQUENCE[verb]}`,
    run: (ids, filter) => {
      const req = onSelected ? { ids } : { filter, all: true };
      return verb === "Retry"
        ? ctx.api.events.retryFailed(req).then((r) => `${r.retried} retried`)
        : ctx.api.events.purgeFailed(req).then((r) => `${r.purged} purged`);
    },
  };
}

/** What "all matching" touches, in the confirmation's words; no filter at all is said loudly. */
function describeFilter(filter: Filter): string {
  const parts = [
    filter.routerId && `router ${filter.routerId}`,
    filter.eventName && `event ${filter.eventName}`,
    filter.startTime && "from the given time",
    filter.endTime && "before the given time",
  ].filter(Boolean);
  return parts.length ? `every failed statement matching ${parts.join(", ")}` : "EVERY failed statement (no filter)";
}

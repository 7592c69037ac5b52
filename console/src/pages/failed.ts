/**
 * Failed statements (ListFailed): filters, pages (the RPC's page tokens, kept in a stack for "Previous"), one
 * statement as pretty JSON, and RetryFailed / PurgeFailed for the selected ids or for everything matching the
 * filter (all = true), each after a confirmation that says how much it touches.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { FailedFilterSchema, FailedStatement } from "../../../gen/eventrouting/v1/event_routing_service_pb.js";
import { describeError } from "../api.js";
import { clear, field, formatTime, h, rowCheckboxes, prettyJson, statusLine } from "../dom.js";
import type { Page } from "../page.js";

type Filter = MessageInitShape<typeof FailedFilterSchema>;

export const failedPage: Page = (main, ctx) => {
  const status = statusLine();
  const routerId = h("input", { name: "router_id", type: "text", spellcheck: "false" });
  const eventName = h("input", { name: "event_name", type: "text", spellcheck: "false" });
  const start = h("input", { name: "start_time", type: "datetime-local", step: "1" });
  const end = h("input", { name: "end_time", type: "datetime-local", step: "1" });
  const pageSize = h("select", { name: "page_size" }, ...[25, 50, 100, 500].map((n) => h("option", { value: String(n) }, String(n))));
  const filters = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter failed statements" },
    field("Router id", routerId),
    field("Event name", eventName),
    field("Failed from", start),
    field("Failed before", end),
    field("Per page", pageSize),
    h("div", { class: "form-actions" }, h("button", { type: "submit" }, "Apply filters")),
  );
  const table = h("div", {}, h("p", {}, "Loading…"));
  const detail = h("section", { "aria-labelledby": "statement-title", class: "detail", hidden: true });
  const prev = h("button", { type: "button", class: "secondary" }, "Previous page");
  const next = h("button", { type: "button", class: "secondary" }, "Next page");
  const retrySel = h("button", { type: "button" }, "Retry selected");
  const purgeSel = h("button", { type: "button", class: "danger" }, "Purge selected");
  const retryAll = h("button", { type: "button" }, "Retry all matching");
  const purgeAll = h("button", { type: "button", class: "danger" }, "Purge all matching");
  clear(
    main,
    h("h1", { tabindex: -1 }, "Failed statements"),
    h("p", { class: "muted" }, "Statements that exhausted their delivery attempts. Retry sends them to their router again."),
    filters,
    h("div", { class: "toolbar", role: "group", "aria-label": "Actions" }, retrySel, purgeSel, retryAll, purgeAll),
    status,
    table,
    h("div", { class: "pager" }, prev, next),
    detail,
  );

  let filter: Filter = {};
  const tokens: string[] = [""];
  let page = 0;
  let rows: FailedStatement[] = [];
  let nextToken = "";
  const selected = new Set<bigint>();
  let stopped = false;

  const readFilter = (): Filter => ({
    routerId: routerId.value.trim(),
    eventName: eventName.value.trim(),
    ...(start.value ? { startTime: timestampFromDate(new Date(start.value)) } : {}),
    ...(end.value ? { endTime: timestampFromDate(new Date(end.value)) } : {}),
  });

  const show = (f: FailedStatement): void => {
    detail.hidden = false;
    clear(
      detail,
      h("h2", { id: "statement-title", tabindex: -1 }, `Failed statement #${f.id}`),
      h("p", {}, `${f.routerId} · ${f.eventName} · ${f.attempts} attempts · HTTP ${f.lastHttpStatus || "none"} · ${f.lastError}`),
      prettyJson(f.statement ?? {}),
    );
    detail.querySelector<HTMLElement>("h2")?.focus();
  };

  const load = async (): Promise<void> => {
    const res = await ctx.api.events.listFailed({ filter, pageSize: Number(pageSize.value), pageToken: tokens[page] ?? "" });
    if (stopped) return;
    rows = res.failed;
    nextToken = res.nextPageToken;
    selected.clear();
    prev.disabled = page === 0;
    next.disabled = nextToken === "";
    if (rows.length === 0) {
      clear(table, h("p", {}, page === 0 ? "No failed statements match." : "No more failed statements."));
      return;
    }
    const { all, boxes } = rowCheckboxes(rows, selected);
    clear(
      table,
      h(
        "table",
        {},
        h("caption", { class: "visually-hidden" }, "Failed statements"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, all),
            ...["Id", "Router", "Event", "Attempts", "HTTP", "Last error", "Failed at", ""].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        h(
          "tbody",
          {},
          ...rows.map((f, i) =>
            h(
              "tr",
              { "data-failed": String(f.id) },
              h("td", {}, boxes[i]!),
              h("td", { class: "num" }, String(f.id)),
              h("td", { class: "id" }, f.routerId),
              h("td", {}, f.eventName),
              h("td", { class: "num" }, String(f.attempts)),
              h("td", { class: "num" }, f.lastHttpStatus ? String(f.lastHttpStatus) : "—"),
              f.lastError ? h("td", { class: "error-text" }, f.lastError) : h("td", { class: "muted" }, "—"),
              h("td", { class: "time" }, formatTime(f.failedTime ? timestampDate(f.failedTime) : undefined)),
              h(
                "td",
                {},
                h("button", { type: "button", class: "small secondary", "aria-label": `View #${f.id}`, onclick: () => show(f) }, "View"),
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

  const describeFilter = (): string => {
    const parts = [
      filter.routerId && `router ${filter.routerId}`,
      filter.eventName && `event ${filter.eventName}`,
      filter.startTime && "from the given time",
      filter.endTime && "before the given time",
    ].filter(Boolean);
    return parts.length ? `every failed statement matching ${parts.join(", ")}` : "EVERY failed statement (no filter)";
  };

  const act = (verb: "Retry" | "Purge", which: "selected" | "all"): void => {
    const ids = [...selected];
    if (which === "selected" && ids.length === 0) {
      status.textContent = `Select statements to ${verb.toLowerCase()} first.`;
      return;
    }
    const what = which === "selected" ? `${ids.length} selected statement(s)` : describeFilter();
    const consequence = verb === "Retry" ? "They are sent to their routers again." : "They are deleted for good.";
    if (!window.confirm(`${verb} ${what}? ${consequence}`)) return;
    const req = which === "selected" ? { ids } : { filter, all: true };
    const call =
      verb === "Retry"
        ? ctx.api.events.retryFailed(req).then((r) => `${r.retried} retried`)
        : ctx.api.events.purgeFailed(req).then((r) => `${r.purged} purged`);
    call.then(
      (done) => {
        status.textContent = `${done}.`;
        page = 0;
        tokens.length = 1;
        reload();
      },
      (e: unknown) => (status.textContent = `${verb} failed: ${describeError(e).message}`),
    );
  };

  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    filter = readFilter();
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
  retrySel.addEventListener("click", () => act("Retry", "selected"));
  purgeSel.addEventListener("click", () => act("Purge", "selected"));
  retryAll.addEventListener("click", () => act("Retry", "all"));
  purgeAll.addEventListener("click", () => act("Purge", "all"));
  reload();
  return () => {
    stopped = true;
  };
};

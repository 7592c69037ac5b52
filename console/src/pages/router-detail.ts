/**
 * One router: its settings, delivery state, a live chart of delivered / failed / dropped / pending
 * (GetRouterStatus polled every POLL_MS; the chart, widgets/delivery-chart.ts, keeps the last five minutes), the
 * recent errors, and the NATS names an operator types into the nats CLI (from src/nats/names.ts, the names the
 * service itself uses, with this service's prefix). delivered, failed (stored) and dropped are the answering instance's counters since it
 * started; pending is the backlog; "in the failed stream" is what is stored now, whoever stored it.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { FailedStatement } from "../../../gen/eventrouting/v1/event_routing_service_pb.js";
import type { Router, RouterStatus } from "../../../gen/eventrouting/v1/router_admin_service_pb.js";
import { natsNames } from "../../../src/nats/names.js";
import { describeError } from "../api.js";
import { breakableUrl, clear, formatTime, h, statusLine } from "../dom.js";
import type { Page, PageContext } from "../page.js";
import { deliveryChart } from "../widgets/delivery-chart.js";
import { BACKEND_LABEL, deleteRouter, setEnabled, STATE_LABEL, stateText } from "./routers.js";

const POLL_MS = 2000;
const RECENT_FAILED = 5;
/** How many distinct last errors the page remembers, newest first. */
const SEEN_ERRORS = 10;

interface SeenError {
  readonly at: Date | undefined;
  readonly text: string;
}

/**
 * RouterStatus.failed counts every exhausted statement, the dropped ones too; the page names the two apart, as
 * the metrics do (delivery_results_total{result="failed"|"dropped"}).
 */
export function exhausted(s: Pick<RouterStatus, "failed" | "dropped">): { failed: number; dropped: number } {
  const dropped = Number(s.dropped);
  return { failed: Math.max(0, Number(s.failed) - dropped), dropped };
}

function dl(pairs: Array<[string, Node | string]>): HTMLDListElement {
  return h("dl", { class: "facts" }, ...pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/** `incarnation` (Router.incarnation, 0 for the first router under an id) names the subject and consumer. */
function natsPanel(prefix: string, id: string, incarnation = 0): HTMLElement {
  const n = natsNames(prefix);
  const inc = incarnation || undefined;
  const code = (s: string): HTMLElement => h("code", {}, s);
  return h(
    "section",
    { "aria-labelledby": "nats-title" },
    h("h2", { id: "nats-title" }, "NATS names"),
    dl([
      ["Delivery stream", code(n.deliveryStream)],
      ["Subject", code(n.deliverSubject(id, inc))],
      ["Consumer", code(n.deliveryConsumer(id, inc))],
      ["Failed stream", code(n.failedStream)],
      ["Failed subject", code(n.failedSubject(id))],
    ]),
    h(
      "pre",
      { class: "commands", tabindex: 0, "aria-label": "nats CLI commands" },
      [
        `nats consumer info ${n.deliveryStream} ${n.deliveryConsumer(id, inc)}`,
        `nats stream subjects ${n.deliveryStream} '${n.deliverSubject(id, inc)}'`,
        `nats stream view ${n.failedStream} --subject '${n.failedSubject(id)}'`,
        `nats kv get ${n.routersBucket} ${id}`,
      ].join("\n"),
    ),
  );
}

export const routerDetailPage: Page = (main, ctx, id) => {
  const routerId = id!;
  const chart = deliveryChart();
  const view = layout(main, routerId, natsPanel(ctx.settings.natsPrefix, routerId), chart.element);
  const seenErrors: SeenError[] = [];
  let router: Router | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const show = (r: Router, st: RouterStatus | undefined): void => {
    // Re-rendered only on a change, so a focused button is not replaced under the keyboard every poll.
    if (router?.revision !== r.revision) {
      clear(view.facts, settingsFacts(r));
      clear(view.actions, ...routerActions(ctx, r, view.status));
    }
    if ((router?.incarnation ?? 0n) !== r.incarnation) view.showNats(natsPanel(ctx.settings.natsPrefix, routerId, Number(r.incarnation)));
    router = r;
    clear(view.live, statusFacts(st, r));
    rememberError(seenErrors, st);
    clear(view.errors, ...errorItems(seenErrors));
    if (st) chart.add({ t: Date.now(), delivered: Number(st.delivered), ...exhausted(st), pending: Number(st.pending) });
  };
  const poll = async (): Promise<void> => {
    try {
      const [r, st] = await fetchRouter(ctx, routerId);
      if (stopped) return;
      show(r, st);
      const res = await ctx.api.events.listFailed({ filter: { routerId }, pageSize: RECENT_FAILED });
      if (!stopped) clear(view.failed, ...recentFailed(res.failed));
    } catch (e) {
      if (stopped) return;
      view.status.textContent = describeError(e).message;
    }
    if (!stopped) timer = setTimeout(() => void poll(), POLL_MS);
  };

  void poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    chart.destroy();
  };
};

/** The parts of the page each poll updates. */
interface View {
  readonly status: HTMLElement;
  readonly facts: HTMLElement;
  readonly live: HTMLElement;
  readonly errors: HTMLElement;
  readonly failed: HTMLElement;
  readonly actions: HTMLElement;
  /** Puts a new NATS names panel in place of the shown one. */
  showNats(panel: HTMLElement): void;
}

/** Heading and actions, status, settings beside the NATS names, delivery (facts and chart), errors beside failed. */
function layout(main: HTMLElement, routerId: string, natsBox: HTMLElement, chart: HTMLElement): View {
  let shownNats = natsBox;
  const view = {
    status: statusLine(),
    facts: h("div", {}, h("p", {}, "Loading…")),
    live: h("div", { class: "facts-live" }),
    errors: h("ul", { class: "errors" }),
    failed: h("div", {}),
    actions: h("div", { class: "actions" }),
    showNats: (panel: HTMLElement): void => {
      shownNats.replaceWith(panel);
      shownNats = panel;
    },
  };
  const section = (titleId: string, title: string, ...content: HTMLElement[]): HTMLElement =>
    h("section", { "aria-labelledby": titleId }, h("h2", { id: titleId }, title), ...content);
  clear(
    main,
    h("div", { class: "page-head" }, h("h1", { tabindex: -1 }, `Router ${routerId}`), view.actions),
    view.status,
    h("div", { class: "columns" }, section("settings-title", "Settings", view.facts), natsBox),
    section("delivery-title", "Delivery", view.live, chart),
    h(
      "div",
      { class: "columns" },
      section("errors-title", "Recent errors", view.errors),
      section("failed-title", "Recently failed statements", view.failed),
    ),
  );
  return view;
}

/** The router and its delivery state; the state is undefined when this instance does not deliver. */
async function fetchRouter(ctx: PageContext, id: string): Promise<[Router, RouterStatus | undefined]> {
  const [r, st] = await Promise.all([
    ctx.api.routers.getRouter({ id }),
    ctx.api.routers.getRouterStatus({ id }).then(
      (x) => x.statuses[0],
      () => undefined,
    ),
  ]);
  return [r.router!, st];
}

function settingsFacts(r: Router): HTMLDListElement {
  return dl([
    ["Display name", r.displayName || "—"],
    ["Backend", BACKEND_LABEL[r.backend]],
    ["Endpoint", breakableUrl(r.endpointUrl)],
    ["Enabled", r.enabled ? "yes" : "no"],
    ["Authentication", authText(r)],
    ["Match params", r.matchParams.length ? r.matchParams.map((m) => `${m.path} ~ ${m.patterns.join(" | ")}`).join("; ") : "every event"],
    ["Headers", Object.keys(r.headers).join(", ") || "—"],
    ["Rate limit", rateLimitText(r)],
    ["Revision", String(r.revision)],
  ]);
}

/** The OAuth 2 client and token endpoint are shown (only the secret is write-only). */
function authText(r: Router): string {
  const k = r.auth?.kind;
  if (!k?.case) return "none";
  const stored = r.auth?.hasSecret ? " (secret stored)" : "";
  if (k.case === "oauth2") return `oauth2: client ${k.value.clientId} at ${k.value.tokenUrl}${stored}`;
  return `${k.case}${stored}`;
}

function rateLimitText(r: Router): string {
  const l = r.delivery?.rateLimit;
  return l ? `${l.requests} requests per ${Number(l.period?.seconds ?? 0n)} s` : "none";
}

/** Edit, Enable or Disable, Delete (back to the routers once deleted); each says in the status line how it went. */
function routerActions(ctx: PageContext, r: Router, status: HTMLElement): HTMLElement[] {
  const act = (label: string, run: () => Promise<unknown>): HTMLButtonElement =>
    h(
      "button",
      {
        type: "button",
        class: "secondary",
        onclick: () =>
          run().then(
            () => (status.textContent = `${label}: done.`),
            (e: unknown) => (status.textContent = `${label} failed: ${describeError(e).message}`),
          ),
      },
      label,
    );
  return [
    h("a", { href: `#/routers/${r.id}/edit`, class: "button" }, "Edit"),
    r.enabled ? act("Disable", () => setEnabled(ctx, r, false)) : act("Enable", () => setEnabled(ctx, r, true)),
    act("Delete", async () => {
      if (await deleteRouter(ctx, r.id)) ctx.go("#/routers");
    }),
  ];
}

function statusFacts(s: RouterStatus | undefined, r: Router): HTMLDListElement {
  const time = (ts: Parameters<typeof timestampDate>[0] | undefined): string => formatTime(ts ? timestampDate(ts) : undefined);
  return dl([
    [
      "State",
      h(
        "span",
        { class: `badge state-${stateText(r, s).replace(/\s+/g, "-")}`, "data-state": s ? STATE_LABEL[s.state] : "" },
        stateText(r, s),
      ),
    ],
    ["Why", s?.stateReason || "—"],
    ["Pending", h("span", { "data-stat": "pending" }, String(s?.pending ?? "—"))],
    ["In flight", String(s?.inFlight ?? "—")],
    ["Delivered (this instance)", h("span", { "data-stat": "delivered" }, String(s?.delivered ?? "—"))],
    ["Failed, stored (this instance)", h("span", { "data-stat": "failed" }, s ? String(exhausted(s).failed) : "—")],
    ["Dropped (this instance)", h("span", { "data-stat": "dropped" }, s ? String(exhausted(s).dropped) : "—")],
    ["In the failed stream", h("span", { "data-stat": "failed-stored" }, String(s?.failedStored ?? "—"))],
    ["Last success", time(s?.lastSuccessTime)],
    ["Oldest pending", time(s?.oldestPendingTime)],
    ["Expires (age limit)", time(s?.oldestPendingExpireTime)],
  ]);
}

/** The status only carries the last error: the page keeps each new one it sees, newest first. */
function rememberError(seen: SeenError[], s: RouterStatus | undefined): void {
  if (s?.lastError && seen[0]?.text !== s.lastError) {
    seen.unshift({ at: s.lastErrorTime ? timestampDate(s.lastErrorTime) : undefined, text: s.lastError });
    seen.length = Math.min(seen.length, SEEN_ERRORS);
  }
}

function errorItems(seen: readonly SeenError[]): HTMLLIElement[] {
  return seen.length ? seen.map((e) => h("li", {}, h("time", {}, formatTime(e.at)), " ", e.text)) : [h("li", {}, "None seen.")];
}

function recentFailed(failed: readonly FailedStatement[]): HTMLElement[] {
  if (failed.length === 0) return [h("p", {}, "None stored.")];
  return [
    h("ul", {}, ...failed.map((f) => h("li", {}, `#${f.id} ${f.eventName}: ${f.lastError}`))),
    h("p", {}, h("a", { href: "#/failed" }, "All failed statements")),
  ];
}

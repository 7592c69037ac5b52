/**
 * One router: its settings, delivery state, a live chart of delivered / failed / pending (GetRouterStatus polled
 * every POLL_MS, the last WINDOW_MS kept in the page), the recent errors, and the NATS names an operator types
 * into the nats CLI (from src/nats/names.ts, the names the service itself uses, with this service's prefix).
 * delivered and failed are the answering instance's counters since it started; pending is the backlog.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import uPlot from "uplot";
import type { Router, RouterStatus } from "../../../gen/eventrouting/v1/router_admin_service_pb.js";
import { natsNames } from "../../../src/nats/names.js";
import { describeError } from "../api.js";
import { clear, formatTime, h, statusLine } from "../dom.js";
import type { Page } from "../main.js";
import { BACKEND_LABEL, deleteRouter, setEnabled, STATE_LABEL, stateText } from "./routers.js";

const POLL_MS = 2000;
const WINDOW_MS = 5 * 60_000;
const RECENT_FAILED = 5;

interface Sample {
  readonly t: number;
  readonly delivered: number;
  readonly failed: number;
  readonly pending: number;
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
  const status = statusLine();
  const facts = h("div", {}, h("p", {}, "Loading…"));
  const live = h("div", { class: "facts-live" });
  const chartBox = h("figure", { class: "chart", "data-samples": 0 });
  const chartSummary = h("figcaption", { "aria-live": "off" });
  const errors = h("ul", { class: "errors" });
  const failed = h("div", {});
  const actions = h("div", { class: "actions" });
  let natsBox = natsPanel(ctx.settings.natsPrefix, routerId);
  clear(
    main,
    h("div", { class: "page-head" }, h("h1", { tabindex: -1 }, `Router ${routerId}`), actions),
    status,
    h(
      "div",
      { class: "columns" },
      h("section", { "aria-labelledby": "settings-title" }, h("h2", { id: "settings-title" }, "Settings"), facts),
      natsBox,
    ),
    h("section", { "aria-labelledby": "delivery-title" }, h("h2", { id: "delivery-title" }, "Delivery"), live, chartBox),
    h(
      "div",
      { class: "columns" },
      h("section", { "aria-labelledby": "errors-title" }, h("h2", { id: "errors-title" }, "Recent errors"), errors),
      h("section", { "aria-labelledby": "failed-title" }, h("h2", { id: "failed-title" }, "Recently failed statements"), failed),
    ),
  );

  const samples: Sample[] = [];
  const seenErrors: Array<{ at: Date | undefined; text: string }> = [];
  let plot: uPlot | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const chartData = (): uPlot.AlignedData => [
    samples.map((s) => s.t / 1000),
    samples.map((s) => s.delivered),
    samples.map((s) => s.failed),
    samples.map((s) => s.pending),
  ];
  const drawChart = (): void => {
    const width = Math.max(320, Math.min(1100, main.clientWidth - 8));
    if (!plot) {
      plot = new uPlot(
        {
          width,
          height: 240,
          title: "Statements (last 5 minutes)",
          series: [
            {},
            { label: "delivered", stroke: "#1f7a3a", width: 2 },
            { label: "failed", stroke: "#b3261e", width: 2 },
            { label: "pending", stroke: "#1d4ed8", width: 2, dash: [6, 4] },
          ],
          axes: [{}, { label: "statements" }],
          scales: {
            // Always the last five minutes, ending at the newest sample: left to itself uPlot stretched one sample
            // over years of axis (the first seconds on the page showed 2027 to 2029).
            x: { time: true, range: (_u, _min, max) => [max - WINDOW_MS / 1000, max] },
            y: { range: (_u, _min, max) => [0, Math.max(5, max * 1.1)] },
          },
          // The span uPlot actually drew, for tests and for anyone inspecting the page.
          hooks: {
            setScale: [
              (u, key) => {
                if (key === "x") chartBox.dataset["xSeconds"] = String(Math.round((u.scales["x"]?.max ?? 0) - (u.scales["x"]?.min ?? 0)));
              },
            ],
          },
        },
        chartData(),
        chartBox,
      );
      chartBox.append(chartSummary);
    } else plot.setData(chartData());
    const last = samples.at(-1)!;
    chartBox.dataset["samples"] = String(samples.length);
    chartBox.dataset["delivered"] = String(last.delivered);
    chartSummary.textContent = `At ${new Date(last.t).toLocaleTimeString()}: ${last.delivered} delivered, ${last.failed} failed, ${last.pending} pending.`;
  };

  const showStatus = (s: RouterStatus | undefined, r: Router): void => {
    const time = (ts: Parameters<typeof timestampDate>[0] | undefined): string => formatTime(ts ? timestampDate(ts) : undefined);
    clear(
      live,
      dl([
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
        ["Failed (this instance)", h("span", { "data-stat": "failed" }, String(s?.failed ?? "—"))],
        ["Failed, stored", String(s?.failedStored ?? "—")],
        ["Last success", time(s?.lastSuccessTime)],
        ["Oldest pending", time(s?.oldestPendingTime)],
        ["Expires (age limit)", time(s?.oldestPendingExpireTime)],
      ]),
    );
    if (s?.lastError && seenErrors[0]?.text !== s.lastError) {
      seenErrors.unshift({ at: s.lastErrorTime ? timestampDate(s.lastErrorTime) : undefined, text: s.lastError });
      seenErrors.length = Math.min(seenErrors.length, 10);
    }
    clear(
      errors,
      ...(seenErrors.length
        ? seenErrors.map((e) => h("li", {}, h("time", {}, formatTime(e.at)), " ", e.text))
        : [h("li", {}, "None seen.")]),
    );
  };

  const loadFailed = async (): Promise<void> => {
    const res = await ctx.api.events.listFailed({ filter: { routerId }, pageSize: RECENT_FAILED });
    if (stopped) return;
    if (res.failed.length === 0) {
      clear(failed, h("p", {}, "None stored."));
      return;
    }
    clear(
      failed,
      h("ul", {}, ...res.failed.map((f) => h("li", {}, `#${f.id} ${f.eventName}: ${f.lastError}`))),
      h("p", {}, h("a", { href: "#/failed" }, "All failed statements")),
    );
  };

  let router: Router | undefined;
  const poll = async (): Promise<void> => {
    try {
      const [r, st] = await Promise.all([
        ctx.api.routers.getRouter({ id: routerId }),
        ctx.api.routers.getRouterStatus({ id: routerId }).then(
          (x) => x.statuses[0],
          () => undefined,
        ),
      ]);
      if (stopped) return;
      // Re-rendered only on a change, so a focused button is not replaced under the keyboard every poll.
      if (router?.revision !== r.router!.revision) renderSettings(r.router!);
      if ((router?.incarnation ?? 0n) !== r.router!.incarnation) {
        const next = natsPanel(ctx.settings.natsPrefix, routerId, Number(r.router!.incarnation));
        natsBox.replaceWith(next);
        natsBox = next;
      }
      router = r.router!;
      showStatus(st, router);
      if (st) {
        const now = Date.now();
        samples.push({ t: now, delivered: Number(st.delivered), failed: Number(st.failed), pending: Number(st.pending) });
        while (samples.length > 0 && samples[0]!.t < now - WINDOW_MS) samples.shift();
        drawChart();
      }
      await loadFailed();
    } catch (e) {
      if (stopped) return;
      status.textContent = describeError(e).message;
    }
    if (!stopped) timer = setTimeout(() => void poll(), POLL_MS);
  };

  const renderSettings = (r: Router): void => {
    clear(
      facts,
      dl([
        ["Display name", r.displayName || "—"],
        ["Backend", BACKEND_LABEL[r.backend]],
        ["Endpoint", h("span", { class: "url" }, r.endpointUrl)],
        ["Enabled", r.enabled ? "yes" : "no"],
        ["Authentication", r.auth?.kind.case ? `${r.auth.kind.case}${r.auth.hasSecret ? " (secret stored)" : ""}` : "none"],
        [
          "Match params",
          r.matchParams.length ? r.matchParams.map((m) => `${m.path} ~ ${m.patterns.join(" | ")}`).join("; ") : "every event",
        ],
        ["Headers", Object.keys(r.headers).join(", ") || "—"],
        ["Revision", String(r.revision)],
      ]),
    );
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
    clear(
      actions,
      h("a", { href: `#/routers/${r.id}/edit`, class: "button" }, "Edit"),
      r.enabled ? act("Disable", () => setEnabled(ctx, r, false)) : act("Enable", () => setEnabled(ctx, r, true)),
      act("Delete", async () => {
        if (await deleteRouter(ctx, r.id)) ctx.go("#/routers");
      }),
    );
  };

  void poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    plot?.destroy();
  };
};

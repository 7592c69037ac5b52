/**
 * One router: its settings, delivery state, a live chart of delivered / failed / dropped / pending
 * (GetRouterStatus polled every POLL_MS, the last WINDOW_MS kept in the page), the recent errors, and the NATS
 * names an operator types into the nats CLI (from src/nats/names.ts, the names the service itself uses, with this
 * service's prefix). delivered, failed (stored) and dropped are the answering instance's counters since it
 * started; pending is the backlog; "in the failed stream" is what is stored now, whoever stored it.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import uPlot from "uplot";
import type { Router, RouterStatus } from "../../../gen/eventrouting/v1/router_admin_service_pb.js";
import { natsNames } from "../../../src/nats/names.js";
import { describeError } from "../api.js";
import { breakableUrl, clear, formatTime, h, statusLine } from "../dom.js";
import type { Page } from "../page.js";
import { BACKEND_LABEL, deleteRouter, setEnabled, STATE_LABEL, stateText } from "./routers.js";

const POLL_MS = 2000;
const WINDOW_MS = 5 * 60_000;
/** The narrowest x range: a few polls' worth, so the first samples spread across the chart. */
const MIN_SPAN_S = 10;
const RECENT_FAILED = 5;

interface Sample {
  readonly t: number;
  readonly delivered: number;
  /** Exhausted and stored in the failed stream (critical events), this instance. */
  readonly failed: number;
  /** Exhausted and dropped (non-critical events), this instance. */
  readonly dropped: number;
  readonly pending: number;
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
  let resize: ResizeObserver | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const chartData = (): uPlot.AlignedData => [
    samples.map((s) => s.t / 1000),
    samples.map((s) => s.delivered),
    samples.map((s) => s.failed),
    samples.map((s) => s.dropped),
    samples.map((s) => s.pending),
  ];
  /** HH:MM:SS in UTC, the time part of the ISO 8601 form formatTime uses everywhere else. */
  const clock = (seconds: number): string => new Date(seconds * 1000).toISOString().slice(11, 19);
  /**
   * The x range: the samples the page has (at least MIN_SPAN_S, so the first one is not a dot on the edge of an
   * empty five minutes), growing to the last WINDOW_MS.
   */
  const xRange = (): uPlot.Range.MinMax => {
    // From the samples themselves: with one sample uPlot's own min and max are not the data's.
    const max = (samples.at(-1)?.t ?? Date.now()) / 1000;
    const first = (samples[0]?.t ?? Date.now()) / 1000;
    return [Math.max(max - WINDOW_MS / 1000, Math.min(first, max - MIN_SPAN_S)), max];
  };
  /** The legend shows the newest values whenever the pointer is not over the chart (uPlot shows "--" then). */
  const legendToLatest = (u: uPlot): void => {
    if (u.cursor.idx == null && samples.length > 0) u.setLegend({ idx: samples.length - 1 }, false);
  };
  const chartWidth = (): number => Math.max(320, chartBox.clientWidth);
  const drawChart = (): void => {
    if (!plot) {
      plot = new uPlot(
        {
          width: chartWidth(),
          height: 240,
          title: "Statements (up to the last 5 minutes)",
          series: [
            { label: "time (UTC)", value: (_u, v) => (v == null ? "—" : formatTime(new Date(v * 1000))) },
            { label: "delivered", stroke: "#1f7a3a", width: 2, points: { show: true } },
            { label: "failed, stored", stroke: "#b3261e", width: 2, points: { show: true } },
            { label: "dropped", stroke: "#9a6700", width: 2, points: { show: true } },
            { label: "pending", stroke: "#1d4ed8", width: 2, dash: [6, 4], points: { show: true } },
          ],
          axes: [
            {
              label: "time (UTC)",
              // Whole seconds and up, well apart: the labels have no sub-second part, so finer ticks read twice.
              incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300],
              space: 80,
              // uPlot's own labels are in the browser's zone and locale, with a date on the first tick that read
              // as a wrong date ("8/27/29"); plain UTC clock times name one zone and no date at all.
              values: (_u, splits) => {
                const labels = splits.map((v) => clock(v));
                chartBox.dataset["xLabels"] = labels.join(" ");
                return labels;
              },
            },
            { label: "statements" },
          ],
          scales: {
            // Left to itself uPlot stretched one sample over years of axis (the first seconds showed 2027 to 2029).
            x: { time: true, range: () => xRange() },
            y: { range: (_u, _min, max) => [0, Math.max(5, max * 1.1)] },
          },
          hooks: {
            // The span uPlot actually drew, for tests and for anyone inspecting the page.
            setScale: [
              (u, key) => {
                if (key === "x") chartBox.dataset["xSeconds"] = String(Math.round((u.scales["x"]?.max ?? 0) - (u.scales["x"]?.min ?? 0)));
              },
            ],
            setCursor: [legendToLatest],
          },
        },
        chartData(),
        chartBox,
      );
      chartBox.append(chartSummary);
      // The chart fills its container, also when the window is resized.
      resize = new ResizeObserver(() => plot?.setSize({ width: chartWidth(), height: 240 }));
      resize.observe(chartBox);
    } else plot.setData(chartData());
    legendToLatest(plot);
    const last = samples.at(-1)!;
    chartBox.dataset["samples"] = String(samples.length);
    chartBox.dataset["delivered"] = String(last.delivered);
    chartSummary.textContent = `At ${formatTime(new Date(last.t))}: ${last.delivered} delivered, ${last.failed} failed and stored, ${last.dropped} dropped, ${last.pending} pending.`;
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
        ["Failed, stored (this instance)", h("span", { "data-stat": "failed" }, s ? String(exhausted(s).failed) : "—")],
        ["Dropped (this instance)", h("span", { "data-stat": "dropped" }, s ? String(exhausted(s).dropped) : "—")],
        ["In the failed stream", h("span", { "data-stat": "failed-stored" }, String(s?.failedStored ?? "—"))],
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
        samples.push({ t: now, delivered: Number(st.delivered), ...exhausted(st), pending: Number(st.pending) });
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
        ["Endpoint", breakableUrl(r.endpointUrl)],
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
    resize?.disconnect();
    plot?.destroy();
  };
};

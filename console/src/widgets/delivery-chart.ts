/**
 * The router page's live chart (uPlot): delivered, failed and stored, dropped and pending over the last
 * WINDOW_MS, one sample per poll. The chart keeps its own samples; the figure's data-* attributes (samples,
 * delivered, x-seconds, x-labels) say what it drew, for tests and for anyone inspecting the page.
 */
import uPlot from "uplot";
import { formatTime, h } from "../dom.js";

const WINDOW_MS = 5 * 60_000;
/** The narrowest x range: a few polls' worth, so the first samples spread across the chart. */
const MIN_SPAN_S = 10;
const HEIGHT = 240;

export interface Sample {
  readonly t: number;
  readonly delivered: number;
  /** Exhausted and stored in the failed stream (critical events), this instance. */
  readonly failed: number;
  /** Exhausted and dropped (non-critical events), this instance. */
  readonly dropped: number;
  readonly pending: number;
}

export interface DeliveryChart {
  /** The <figure> to place on the page; the chart is drawn into it with the first sample. */
  readonly element: HTMLElement;
  /** Adds a sample (forgetting those older than WINDOW_MS before it) and redraws. */
  add(sample: Sample): void;
  destroy(): void;
}

export function deliveryChart(): DeliveryChart {
  const element = h("figure", { class: "chart", "data-samples": 0 });
  const summary = h("figcaption", { "aria-live": "off" });
  const samples: Sample[] = [];
  let plot: uPlot | undefined;
  let resize: ResizeObserver | undefined;
  const width = (): number => Math.max(320, element.clientWidth);
  /** The legend shows the newest values whenever the pointer is not over the chart (uPlot shows "--" then). */
  const legendToLatest = (u: uPlot): void => {
    if (u.cursor.idx == null && samples.length > 0) u.setLegend({ idx: samples.length - 1 }, false);
  };

  const draw = (): void => {
    if (!plot) {
      plot = new uPlot(chartOptions(element, samples, width(), legendToLatest), chartData(samples), element);
      element.append(summary);
      // The chart fills its container, also when the window is resized.
      resize = new ResizeObserver(() => plot?.setSize({ width: width(), height: HEIGHT }));
      resize.observe(element);
    } else plot.setData(chartData(samples));
    legendToLatest(plot);
    const last = samples.at(-1)!;
    element.dataset["samples"] = String(samples.length);
    element.dataset["delivered"] = String(last.delivered);
    summary.textContent = `At ${formatTime(new Date(last.t))}: ${last.delivered} delivered, ${last.failed} failed and stored, ${last.dropped} dropped, ${last.pending} pending.`;
  };

  return {
    element,
    add: (sample) => {
      samples.push(sample);
      while (samples.length > 0 && samples[0]!.t < sample.t - WINDOW_MS) samples.shift();
      draw();
    },
    destroy: () => {
      resize?.disconnect();
      plot?.destroy();
    },
  };
}

function chartData(samples: readonly Sample[]): uPlot.AlignedData {
  return [
    samples.map((s) => s.t / 1000),
    samples.map((s) => s.delivered),
    samples.map((s) => s.failed),
    samples.map((s) => s.dropped),
    samples.map((s) => s.pending),
  ];
}

/** HH:MM:SS in UTC, the time part of the ISO 8601 form formatTime uses everywhere else. */
function clock(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(11, 19);
}

/**
 * The x range: the samples the page has (at least MIN_SPAN_S, so the first one is not a dot on the edge of an
 * empty five minutes), growing to the last WINDOW_MS.
 */
function xRange(samples: readonly Sample[]): uPlot.Range.MinMax {
  // From the samples themselves: with one sample uPlot's own min and max are not the data's.
  const max = (samples.at(-1)?.t ?? Date.now()) / 1000;
  const first = (samples[0]?.t ?? Date.now()) / 1000;
  return [Math.max(max - WINDOW_MS / 1000, Math.min(first, max - MIN_SPAN_S)), max];
}

function chartOptions(box: HTMLElement, samples: readonly Sample[], width: number, legendToLatest: (u: uPlot) => void): uPlot.Options {
  return {
    width,
    height: HEIGHT,
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
          box.dataset["xLabels"] = labels.join(" ");
          return labels;
        },
      },
      { label: "statements" },
    ],
    scales: {
      // Left to itself uPlot stretched one sample over years of axis (the first seconds showed 2027 to 2029).
      x: { time: true, range: () => xRange(samples) },
      y: { range: (_u, _min, max) => [0, Math.max(5, max * 1.1)] },
    },
    hooks: {
      // The span uPlot actually drew, for tests and for anyone inspecting the page.
      setScale: [
        (u, key) => {
          if (key === "x") box.dataset["xSeconds"] = String(Math.round((u.scales["x"]?.max ?? 0) - (u.scales["x"]?.min ?? 0)));
        },
      ],
      setCursor: [legendToLatest],
    },
  };
}

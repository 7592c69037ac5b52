/**
 * Input lost or set aside, as Prometheus counters per input: Redis event-bus entries the LMS trimmed from the
 * stream before they were read (lost for good), and entries of another CloudEvent type that were skipped. Both were
 * only in GetIngestStatus; the alert on trimmed entries (deploy/prometheus/alerts.yml) needs a counter.
 *
 * The inputs keep their own totals (InputStats, shared with GetIngestStatus); each scrape adds what grew since the
 * last one. Every series starts at 0 as soon as the input runs, so `increase()` sees the first loss too (a
 * counter that appears at 1 shows no increase). Kept apart from metrics.ts, which samples JetStream.
 */
import { Counter, type Registry } from "prom-client";
import { METRIC_PREFIX } from "./metrics.js";

export interface InputLossSource {
  /** Label value: "event-bus-redis" or "nats". */
  readonly input: string;
  readonly stats: { readonly trimmed: number; readonly skippedOtherType: number };
}

export function registerIngestLossMetrics(registry: Registry, inputs: readonly InputLossSource[]): void {
  const total = (name: string, help: string, read: (s: InputLossSource["stats"]) => number) => {
    const seen = new Map<string, number>();
    new Counter({
      name: `${METRIC_PREFIX}${name}`,
      help,
      labelNames: ["input"],
      registers: [registry],
      collect() {
        for (const i of inputs) {
          const now = read(i.stats);
          const before = seen.get(i.input);
          // inc(0) the first time: the series exists from the start.
          if (before === undefined || now > before) this.inc({ input: i.input }, now - (before ?? 0));
          seen.set(i.input, now);
        }
      },
    });
  };
  total(
    "ingest_trimmed_total",
    "Event-bus entries trimmed from the Redis stream by the producer before this input read them (lost)",
    (s) => s.trimmed,
  );
  total(
    "ingest_skipped_other_type_total",
    "Entries of another CloudEvent type skipped by an input (acknowledged, not routed)",
    (s) => s.skippedOtherType,
  );
}

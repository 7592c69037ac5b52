/**
 * At most one JetStream sample per interval, whatever the scrape rate. /metrics needs no token, so a scraper in a
 * loop (or ten Prometheus replicas) would otherwise cost a round of consumer-info requests per scrape and load the
 * JetStream meta leader that Emit depends on. Callers during a read share it (single flight); callers within the
 * interval after it started share its result; a read slower than the interval is still never doubled.
 *
 * `read` must not reject (the metrics server turns a failure into `scrape_sample_ok 0`); the interval counts from
 * the start of a read, so the rate is bounded even when each read is slow.
 */
export function throttle(read: () => Promise<void>, intervalMs: number, clock: () => number = Date.now): () => Promise<void> {
  let last: { startedAt: number; done: Promise<void>; settled: boolean } | undefined;
  return () => {
    if (last && (!last.settled || clock() - last.startedAt < intervalMs)) return last.done;
    const current = { startedAt: clock(), done: Promise.resolve(), settled: false };
    last = current;
    current.done = read().finally(() => {
      current.settled = true;
    });
    return current.done;
  };
}

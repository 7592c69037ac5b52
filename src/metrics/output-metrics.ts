/**
 * Counters of the statement logs (src/output/): lines written and failed writes, per backend. Kept apart from
 * metrics.ts (which samples JetStream at scrape time) because these are counted where they happen; registered in
 * the instance's own registry.
 */
import { Counter, type Registry } from "prom-client";
import type { StatementLogObserver } from "../output/statement-log-reader.js";
import { METRIC_PREFIX } from "./metrics.js";

export function statementLogMetrics(registry: Registry): StatementLogObserver {
  const lines = new Counter({
    name: `${METRIC_PREFIX}statement_log_lines_total`,
    help: "Lines written to a statement log (XAPI_STATEMENT_LOG / CALIPER_STATEMENT_LOG), per backend",
    labelNames: ["backend"],
    registers: [registry],
  });
  const failures = new Counter({
    name: `${METRIC_PREFIX}statement_log_write_errors_total`,
    help: "Failed statement log writes (full disk, permissions, missing directory), per backend; each is retried",
    labelNames: ["backend"],
    registers: [registry],
  });
  return {
    written: (backend, n) => lines.inc({ backend }, n),
    writeFailed: (backend) => failures.inc({ backend }),
  };
}

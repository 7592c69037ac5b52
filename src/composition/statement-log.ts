/**
 * The statement logs (XAPI_/CALIPER_STATEMENT_LOG) and their readers. The log is opened before NATS (it opens its
 * files lazily, so nothing is held yet) and so closed last of all: every reader has stopped and the NATS
 * connection has drained before the files are ended. The readers start after the stores and stop before delivery.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { ServiceMetrics } from "../metrics/metrics.js";
import { statementLogMetrics } from "../metrics/output-metrics.js";
import { StatementLog } from "../output/statement-log.js";
import { StatementLogReader } from "../output/statement-log-reader.js";
import type { LifecycleStack } from "./lifecycle-stack.js";
import type { NatsLayer } from "./nats.js";

export function openStatementLog(stack: LifecycleStack, config: Config): StatementLog {
  return stack.adopt(
    new StatementLog({
      destinations: { xapi: config.xapiStatementLog, caliper: config.caliperStatementLog },
      maxBytes: config.statementLogMaxBytes,
      maxFiles: config.statementLogMaxFiles,
    }),
    (log) => log.close(),
  );
}

/** One reader per logged backend; stopped in reverse order of start. */
export async function startStatementLogReaders(
  stack: LifecycleStack,
  { nc, names }: NatsLayer,
  log: StatementLog,
  config: Config,
  logger: Logger,
  metrics: ServiceMetrics | undefined,
): Promise<void> {
  // Fed from the delivery stream (statement-log-reader.ts), not from PubAcks: a late PubAck still gets logged.
  // Registered even with the logs off, so the alert rules' metrics always exist (deploy/prometheus/alerts.yml).
  const observer = metrics ? statementLogMetrics(metrics.registry) : undefined;
  for (const backend of log.backends) {
    const reader = new StatementLogReader({
      js: jetstream(nc),
      jsm: await jetstreamManager(nc),
      names,
      backend,
      log,
      logger,
      inactiveThresholdMs: config.deliveryMaxAgeHours * 3_600_000,
      observer,
      maxPayload: () => nc.info?.max_payload,
    });
    await reader.start();
    stack.use(reader);
  }
}

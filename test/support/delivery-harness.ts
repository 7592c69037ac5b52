/**
 * Shared pieces of the delivery tests: an in-memory RouterSource (a Map plus listeners; NATS itself stays real),
 * router and statement factories, a publisher that writes delivery messages exactly as Emit does, and a pino
 * logger whose lines the tests can inspect.
 */
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import type { JetStreamClient } from "@nats-io/jetstream";
import { pino, type Logger } from "pino";
import type { NatsNames } from "../../src/nats/names.js";
import { deliveryHeaders } from "../../src/routing/delivery-message.js";
import type { DeliveryDefaults, RouterConfig, RouterDeliverySettings } from "../../src/routing/router-model.js";
import type { RouterChange, RouterSource } from "../../src/routing/router-source.js";

export class MemoryRouterSource implements RouterSource {
  private readonly routers = new Map<string, RouterConfig>();
  private readonly listeners = new Set<(c: RouterChange) => void>();

  list(): readonly RouterConfig[] {
    return [...this.routers.values()];
  }

  get(id: string): RouterConfig | undefined {
    return this.routers.get(id);
  }

  subscribe(listener: (c: RouterChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  put(router: RouterConfig): void {
    const previous = this.routers.get(router.id);
    this.routers.set(router.id, router);
    for (const l of this.listeners) l(previous ? { kind: "put", router, previous } : { kind: "put", router });
  }

  delete(id: string): void {
    const previous = this.routers.get(id);
    this.routers.delete(id);
    for (const l of this.listeners) l(previous ? { kind: "delete", id, previous } : { kind: "delete", id });
  }
}

/** Short timings for tests: ack wait 600 ms, HTTP timeout 250 ms, retry after 150 ms. */
export const FAST: RouterDeliverySettings = {
  batchSize: 10,
  batchIntervalMs: 50,
  maxRetries: 3,
  countdownMs: 600,
  httpTimeoutMs: 250,
  backoffMs: [150],
};

export const TEST_DEFAULTS: DeliveryDefaults = {
  batchSize: 10,
  batchIntervalMs: 50,
  maxRetries: 3,
  countdownMs: 600,
  httpTimeoutMs: 250,
  criticalEvents: ["edx.course.enrollment.activated", "edx.course.enrollment.deactivated", "edx.course.grade.passed.first_time"],
};

export function makeRouter(
  id: string,
  endpointUrl: string,
  p: Partial<RouterConfig> = {},
  delivery: RouterDeliverySettings = {},
): RouterConfig {
  const now = new Date().toISOString();
  return {
    id,
    displayName: id,
    backend: "xapi",
    endpointUrl,
    auth: { kind: "none" },
    enabled: true,
    matchParams: [],
    overrideArgs: {},
    headers: {},
    createTime: now,
    updateTime: now,
    revision: 1,
    ...p,
    delivery: { ...FAST, ...delivery },
  };
}

export function fakeStatement(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: randomUUID(),
    actor: { objectType: "Agent", account: { homePage: "http://localhost:18000", name: "u1" } },
    verb: { id: "http://adlnet.gov/expapi/verbs/registered", display: { en: "registered" } },
    object: { id: "http://localhost:18000/course/course-v1:edX+DemoX+Demo_Course", objectType: "Activity" },
    timestamp: "2023-05-10T10:22:33.123456+00:00",
    version: "1.0.3",
    ...extra,
  };
}

/** Publishes like Emit: one message per statement on the router's subject, headers as delivery-message.ts. */
export async function publishStatements(
  js: JetStreamClient,
  names: NatsNames,
  routerId: string,
  statements: readonly Record<string, unknown>[],
  eventName = "edx.video.played",
  backend: "xapi" | "caliper" = "xapi",
): Promise<void> {
  await Promise.all(
    statements.map((s) => {
      const id = String(s["id"]);
      const headers = deliveryHeaders({ routerId, eventName, statementId: id, backend });
      // A PubAck wait well past the library's 5 s default: every statement is in flight at once, and on a loaded
      // machine the last PubAcks of a few hundred can take longer; the test's subject is delivery, not publishing.
      return js.publish(names.deliverSubject(routerId), JSON.stringify(s), {
        msgID: names.deliveryMsgId(routerId, id),
        headers,
        timeout: 30_000,
      });
    }),
  );
}

export interface CapturedLogger {
  readonly logger: Logger;
  readonly lines: Record<string, unknown>[];
}

export function captureLogger(): CapturedLogger {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString("utf8").split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

/**
 * DELIVERY_DUPLICATE_WINDOW_HOURS: the delivery stream's de-duplication window is the operator's setting (stored
 * once only within it; docs/reliability.md says where that ends), applied to a real nats-server at start-up, and
 * never longer than the stream keeps its statements.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { ConfigError, loadConfig } from "../src/config.js";
import { startServiceUnderTest } from "./support/service-under-test.js";

const HOUR_MS = 3_600_000;

test("the delivery stream's duplicate window is DELIVERY_DUPLICATE_WINDOW_HOURS (2 h by default)", async () => {
  for (const [env, hours] of [
    [{}, 2],
    [{ DELIVERY_DUPLICATE_WINDOW_HOURS: "24" }, 24],
  ] as const) {
    const sut = await startServiceUnderTest({ LOG_LEVEL: "silent", ...env });
    try {
      const info = await (await jetstreamManager(sut.service.nc)).streams.info("EVENTROUTING_DELIVERY");
      assert.equal(info.config.duplicate_window, nanos(hours * HOUR_MS));
    } finally {
      await sut.close();
    }
  }
});

test("a window longer than DELIVERY_MAX_AGE_HOURS is refused at start-up, naming both variables", () => {
  const env = { NATS_URL: "nats://127.0.0.1:4222", DELIVERY_MAX_AGE_HOURS: "12", DELIVERY_DUPLICATE_WINDOW_HOURS: "24" };
  assert.throws(
    () => loadConfig(env),
    (e: Error) => e instanceof ConfigError && /DELIVERY_DUPLICATE_WINDOW_HOURS must not exceed DELIVERY_MAX_AGE_HOURS/.test(e.message),
  );
  assert.equal(loadConfig({ ...env, DELIVERY_DUPLICATE_WINDOW_HOURS: "12" }).deliveryDuplicateWindowHours, 12);
});

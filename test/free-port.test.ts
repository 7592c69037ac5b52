/**
 * The test harness's fixed ports: outside the kernel's ephemeral range, where a concurrent test's outgoing
 * connection could take one between the check and the server's bind (test/support/free-port.ts).
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";
import { ephemeralLow, freePort } from "./support/free-port.js";

test("freePort hands out bindable ports below the ephemeral range, not the same one each time", async () => {
  const low = ephemeralLow();
  const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
  for (const p of ports) assert.ok(p >= 10_000 && p < low, `port ${p} is below ${low}`);
  assert.ok(new Set(ports).size > 1, "random, not fixed");
  const s = createServer();
  await new Promise<void>((r) => s.listen(ports[0], "127.0.0.1", () => r()));
  await new Promise<void>((r) => s.close(() => r()));
});

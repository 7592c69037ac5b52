import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bindHealthToNats, HealthRegistry, LIVENESS, ServingStatus as S } from "../src/server/health.js";

async function* events(...types: string[]) {
  for (const type of types) yield { type };
}

describe("HealthRegistry", () => {
  it("knows the overall status and added services, and nothing else", () => {
    const h = new HealthRegistry();
    assert.equal(h.status(""), S.SERVING);
    assert.equal(h.status("a.v1.A"), undefined);
    h.add("a.v1.A");
    h.set("b.v1.B", S.NOT_SERVING);
    h.add("b.v1.B");
    assert.equal(h.status("a.v1.A"), S.SERVING);
    assert.equal(h.status("b.v1.B"), S.NOT_SERVING);
  });

  it("reports NOT_SERVING while any dependency is down, then restores the set statuses", () => {
    const h = new HealthRegistry();
    h.add("a.v1.A");
    h.setDependency("nats", false);
    h.setDependency("other", false);
    assert.equal(h.status(""), S.NOT_SERVING);
    h.setDependency("nats", true);
    assert.equal(h.status("a.v1.A"), S.NOT_SERVING);
    h.setDependency("other", true);
    assert.equal(h.status("a.v1.A"), S.SERVING);
  });

  it("liveness is SERVING whatever NATS or a shutdown says, and is not listed", () => {
    const h = new HealthRegistry();
    h.setDependency("nats", false);
    assert.equal(h.status(LIVENESS), S.SERVING);
    h.shutdown();
    assert.equal(h.status(LIVENESS), S.SERVING);
    assert.deepEqual([...h.statuses().keys()], [""]);
  });

  it("stays NOT_SERVING after shutdown whatever is set later", () => {
    const h = new HealthRegistry();
    h.shutdown();
    h.set("", S.SERVING);
    h.setDependency("nats", true);
    assert.equal(h.status(""), S.NOT_SERVING);
    assert.deepEqual([...h.statuses()], [["", S.NOT_SERVING]]);
  });
});

describe("bindHealthToNats", () => {
  it("follows disconnect and reconnect, ignores other events, and ends down when the stream ends", async () => {
    const h = new HealthRegistry();
    const seen: Array<S | undefined> = [];
    const observed = (async function* () {
      for await (const e of events("disconnect", "ping", "reconnecting", "reconnect", "update", "disconnect", "reconnect")) {
        yield e;
        seen.push(h.status(""));
      }
    })();
    await bindHealthToNats(observed, h);
    assert.deepEqual(seen, [S.NOT_SERVING, S.NOT_SERVING, S.NOT_SERVING, S.SERVING, S.SERVING, S.NOT_SERVING, S.SERVING]);
    assert.equal(h.status(""), S.NOT_SERVING);
  });
});

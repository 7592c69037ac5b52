/**
 * The look-up caches' invalidating watch on a real nats-server, when the server ends it: the end is logged at
 * error (it used to die inside an empty catch, leaving imports to apply only at the cache TTL) and a new watch is
 * started, with backoff, until the directory is closed.
 *
 * The server ends it through permissions: the user may not subscribe to `_INBOX.*.1`, the subject nats.js's
 * ordered consumer (the KV watch) first delivers on, while its request inbox (`_INBOX.<id>.*`) stays allowed, so
 * look-ups still work. nats-server 2.9 cannot reload permissions while the JetStream store dir comes from the
 * command line, so the refusal lasts: each new watch is refused in turn, which is how the restarts are seen.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { test } from "node:test";
import { pino } from "pino";
import { hmacExternalIds } from "../src/directory/external-id.js";
import { KvIdentityDirectory } from "../src/directory/kv-identity-directory.js";
import { connect } from "@nats-io/transport-node";
import { natsNames } from "../src/nats/names.js";
import { waitUntil } from "./support/http-endpoints.js";
import { startNatsServer } from "./support/nats-server.js";

const names = natsNames("watchtest");

test("a watch the server ends is logged at error and started again until the directory closes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "er-watch-"));
  const conf = join(dir, "nats.conf");
  writeFileSync(
    conf,
    `authorization { users = [
      { user: dir, password: dir-password-0123456789, permissions: { subscribe: { deny: "_INBOX.*.1" } } }
    ] }\n`,
  );
  const server = await startNatsServer({ extraArgs: ["-c", conf] });
  const nc = await connect({ servers: server.url, user: "dir", pass: "dir-password-0123456789" });
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const t of chunk.toString("utf8").split("\n").filter(Boolean)) lines.push(JSON.parse(t) as Record<string, unknown>);
      cb();
    },
  });
  const ended = () => lines.filter((l) => /invalidating watch ended/.test(String(l["msg"])));
  let directory: KvIdentityDirectory | undefined;
  try {
    directory = await KvIdentityDirectory.open(nc, names, hmacExternalIds("watch-test-key-0123456789"), {
      cache: { logger: pino({ level: "info" }, sink), restartDelayMs: 50 },
    });
    // Two lines: the first watch ended, and so did the one started after it (the loop runs).
    await waitUntil(() => ended().length >= 2, 20_000, "the ended watch is logged and started again");
    const first = ended()[0]!;
    assert.equal(first["level"], 50);
    assert.equal(first["bucket"], names.identitiesBucket);
    assert.ok(Number(ended()[1]!["restarts"]) >= 1);
    // Look-ups still answer from KV meanwhile.
    assert.deepEqual(await directory.resolve({ kind: "user_id", value: "7" }), {
      externalId: hmacExternalIds("watch-test-key-0123456789")({ kind: "user_id", value: "7" }),
    });

    // Closed: no more restarts. The backoff has grown past 50 ms by now; one more line may be on its way.
    directory.close();
    directory = undefined;
    const settled = ended().length;
    await new Promise((r) => setTimeout(r, 1_500));
    assert.ok(ended().length <= settled + 1, `${ended().length - settled} more watch restarts after close`);
  } finally {
    directory?.close();
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

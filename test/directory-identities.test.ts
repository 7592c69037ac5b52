import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { DirectoryAdminService } from "../gen/eventrouting/v1/directory_admin_service_pb.js";
import { createDirectoryAdminService } from "../src/admin/directory-admin-service.js";
import { parseIdentitiesCsv } from "../src/directory/csv.js";
import { hmacExternalIds } from "../src/directory/external-id.js";
import { IDENTITY_HMAC_KEY, identityHmacSecret } from "../src/directory/hmac-secret.js";
import { usernameKey } from "../src/directory/identity-record.js";
import { KvIdentityDirectory } from "../src/directory/kv-identity-directory.js";
import { KvCourseDirectory } from "../src/directory/kv-course-directory.js";
import { staticIdentityDirectory } from "../src/directory/static-directories.js";
import { ValidationError } from "../src/errors.js";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { errorMappingInterceptor } from "../src/server/interceptors.js";

const names = natsNames("dirtest");
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function invalid(p: Promise<unknown>, messagePart: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ConnectError);
    assert.equal(e.code, Code.InvalidArgument, e.rawMessage);
    assert.ok(e.rawMessage.includes(messagePart), `"${e.rawMessage}" should mention ${messagePart}`);
    return true;
  });
}

/** Resolves when `dir`'s cache has dropped `key` because of a watched change. */
function invalidated(waiters: Map<string, () => void>, key: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${key} not invalidated within 1 s`)), 1_000);
    waiters.set(key, () => {
      clearTimeout(t);
      waiters.delete(key);
      resolve();
    });
  });
}

let nats: TestNatsServer;
let ncA: NatsConnection;
let ncB: NatsConnection;
let secretA: string;
let secretB: string;
let dirA: KvIdentityDirectory;
let dirB: KvIdentityDirectory;
let coursesA: KvCourseDirectory;
const waitersB = new Map<string, () => void>();
let client: Client<typeof DirectoryAdminService>;

before(async () => {
  nats = await startNatsServer();
  ncA = await connectNats({ servers: nats.url, name: "dir-a" });
  ncB = await connectNats({ servers: nats.url, name: "dir-b" });
  // Two instances starting together: exactly one generates the key, both end up with it.
  [secretA, secretB] = await Promise.all([identityHmacSecret(ncA, names), identityHmacSecret(ncB, names)]);
  dirA = await KvIdentityDirectory.open(ncA, names, hmacExternalIds(secretA));
  dirB = await KvIdentityDirectory.open(ncB, names, hmacExternalIds(secretB), { cache: { onInvalidate: (k) => waitersB.get(k)?.() } });
  coursesA = await KvCourseDirectory.open(ncA, names);
  const transport = createRouterTransport(
    ({ service }) => service(DirectoryAdminService, createDirectoryAdminService({ identities: dirA, courses: coursesA })),
    { router: { interceptors: [errorMappingInterceptor] } },
  );
  client = createClient(DirectoryAdminService, transport);
});

after(async () => {
  dirA?.close();
  dirB?.close();
  coursesA?.close();
  await ncA?.close();
  await ncB?.close();
  await nats?.stop();
});

describe("HMAC-derived external ids", () => {
  test("the generated key is shared through the settings bucket; a later instance reads it", async () => {
    assert.equal(secretA, secretB);
    assert.ok(secretA.length >= 32);
    const nc = await connectNats({ servers: nats.url });
    try {
      assert.equal(await identityHmacSecret(nc, names), secretA, "a later instance reads the stored key");
      const kv = await new Kvm(nc).open(names.settingsBucket);
      assert.equal((await kv.get(IDENTITY_HMAC_KEY))?.string(), secretA);
    } finally {
      await nc.close();
    }
  });

  test("a configured secret wins and is not stored", async () => {
    assert.equal(
      await identityHmacSecret(ncA, natsNames("dirtest-configured"), { configured: "configured-secret-0123456789" }),
      "configured-secret-0123456789",
    );
  });

  test("unknown users get the same UUID on every instance, distinct per reference, without email", async () => {
    const a = await dirA.resolve({ kind: "user_id", value: "9001" });
    const b = await dirB.resolve({ kind: "user_id", value: "9001" });
    assert.ok(a?.externalId && UUID_V4.test(a.externalId), `not a v4-shaped UUID: ${a?.externalId}`);
    assert.equal(a.externalId, b?.externalId);
    assert.equal(a.email, undefined);
    const other = await dirA.resolve({ kind: "user_id", value: "9002" });
    const byName = await dirA.resolve({ kind: "username", value: "9001" });
    assert.notEqual(other?.externalId, a.externalId);
    assert.notEqual(byName?.externalId, a.externalId, "user_id:9001 and username:9001 are different inputs");
    assert.notEqual(hmacExternalIds("another key")({ kind: "user_id", value: "9001" }), a.externalId, "the id depends on the key");
    assert.equal(await dirA.resolve({ kind: "user_id", value: "" }), undefined);
  });

  test("derivation is the documented HMAC-SHA256 of kind:value", async () => {
    const { createHmac } = await import("node:crypto");
    const hex = createHmac("sha256", "k").update("user_id:42").digest("hex");
    const id = hmacExternalIds("k")({ kind: "user_id", value: "42" });
    assert.equal(id.replaceAll("-", "").slice(0, 12), hex.slice(0, 12));
    assert.equal(id.replaceAll("-", "").slice(20), hex.slice(20, 32));
  });
});

describe("identity table", () => {
  test("imported rows resolve by user id and by username, with email", async () => {
    const res = await client.importIdentities({
      identities: [
        { userId: "11", username: "ada", externalId: "ext-ada-0001", email: "ada@example.com" },
        { userId: "12", username: "bob@weird name", email: "bob@example.com" },
        { username: "carol", externalId: "ext-carol" },
      ],
    });
    assert.equal(res.imported, 3);
    assert.deepEqual(await dirA.resolve({ kind: "user_id", value: "11" }), { externalId: "ext-ada-0001", email: "ada@example.com" });
    assert.deepEqual(await dirB.resolve({ kind: "username", value: "ada" }), { externalId: "ext-ada-0001", email: "ada@example.com" });
    assert.deepEqual(await dirB.resolve({ kind: "username", value: "carol" }), { externalId: "ext-carol" });
    // A record without external_id derives it from its user id, so both references agree.
    const bobById = await dirA.resolve({ kind: "user_id", value: "12" });
    const bobByName = await dirB.resolve({ kind: "username", value: "bob@weird name" });
    assert.equal(bobById?.email, "bob@example.com");
    assert.equal(bobById?.externalId, hmacExternalIds(secretA)({ kind: "user_id", value: "12" }));
    assert.deepEqual(bobByName, bobById);
  });

  test("an import on one instance replaces a cached miss on another", async () => {
    const ref = { kind: "user_id", value: "77" } as const;
    const derived = await dirB.resolve(ref);
    assert.equal(derived?.email, undefined);
    const dropped = invalidated(waitersB, "id.77");
    await client.importIdentities({ identities: [{ userId: "77", username: "late", externalId: "ext-late", email: "late@example.com" }] });
    await dropped;
    assert.deepEqual(await dirB.resolve(ref), { externalId: "ext-late", email: "late@example.com" });
  });

  test("the emit path's cached answers agree with resolve: none before a load, the same after, none after a change", async () => {
    const ref = { kind: "user_id", value: "88" } as const;
    assert.equal(dirB.resolveCached(ref), undefined, "not loaded yet: the caller must wait for resolve()");
    const derived = await dirB.resolve(ref);
    assert.deepEqual(dirB.resolveCached(ref), { user: derived }, "a cached miss answers with the derived id");
    assert.deepEqual(dirB.resolveCached({ kind: "user_id", value: "" }), { user: await dirB.resolve({ kind: "user_id", value: "" }) });
    const dropped = invalidated(waitersB, "id.88");
    await client.importIdentities({
      identities: [{ userId: "88", username: "eighty-eight", externalId: "ext-88", email: "e@example.com" }],
    });
    await dropped;
    assert.equal(dirB.resolveCached(ref), undefined, "a watched change drops the cached answer");
    const imported = await dirB.resolve(ref);
    assert.deepEqual(imported, { externalId: "ext-88", email: "e@example.com" });
    // The import's other watched keys may drop the entry again while the watch catches up: a cached answer may be
    // missing then (the caller awaits resolve), but it is never the stale derived id.
    const cached = dirB.resolveCached(ref);
    if (cached !== undefined) assert.deepEqual(cached, { user: imported });
  });

  test("courses: cached answers agree with courseName", async () => {
    assert.deepEqual(coursesA.courseNameCached(""), { name: undefined });
    const id = "course-v1:Cache+C1+2026";
    assert.equal(coursesA.courseNameCached(id), undefined);
    const name = await coursesA.courseName(id);
    assert.deepEqual(coursesA.courseNameCached(id), { name });
  });

  test("a changed username no longer resolves to the learner", async () => {
    await client.importIdentities({ identities: [{ userId: "31", username: "old-name", externalId: "ext-31" }] });
    assert.equal((await dirB.resolve({ kind: "username", value: "old-name" }))?.externalId, "ext-31");
    const dropped = invalidated(waitersB, usernameKey("old-name"));
    await client.importIdentities({ identities: [{ userId: "31", username: "new-name", externalId: "ext-31" }] });
    await dropped;
    assert.equal((await dirB.resolve({ kind: "username", value: "new-name" }))?.externalId, "ext-31");
    const old = await dirB.resolve({ kind: "username", value: "old-name" });
    assert.notEqual(old?.externalId, "ext-31");
  });

  test("CSV import", async () => {
    const csv = "user_id,username,external_id,email\n41,dan,ext-dan,dan@example.com\n\n42,,,\n";
    assert.equal((await client.importIdentities({ csv })).imported, 2);
    assert.deepEqual(await dirA.resolve({ kind: "username", value: "dan" }), { externalId: "ext-dan", email: "dan@example.com" });
    assert.equal(
      (await dirA.resolve({ kind: "user_id", value: "42" }))?.externalId,
      hmacExternalIds(secretA)({ kind: "user_id", value: "42" }),
    );
  });

  test("row errors name the row and field; nothing is written", async () => {
    await invalid(
      client.importIdentities({
        identities: [
          { userId: "51", username: "ok" },
          { userId: "52", email: "not-an-email" },
        ],
      }),
      "identities[1].email",
    );
    await invalid(
      client.importIdentities({ identities: [{ externalId: "x", email: "x@example.com" }] }),
      "identities[0].user_id: user_id or username is required",
    );
    await invalid(client.importIdentities({ identities: [{ userId: "1 2" }] }), "identities[0].user_id");
    await invalid(client.importIdentities({ identities: [{ userId: "53", externalId: "has space" }] }), "identities[0].external_id");
    await invalid(client.importIdentities({}), "identities");
    assert.equal((await dirA.resolve({ kind: "username", value: "ok" }))?.email, undefined);
  });

  test("CSV errors name the line", async () => {
    await invalid(
      client.importIdentities({ csv: "user_id,username,email\n1,a,a@example.com\n" }),
      "csv: line 1: expected the header exactly user_id,username,external_id,email",
    );
    await invalid(
      client.importIdentities({ csv: "user_id,username,external_id,email\n1,a,,a@example.com\n2,b,,nope\n" }),
      "csv: line 3: email",
    );
    await invalid(client.importIdentities({ csv: "user_id,username,external_id,email\n1,a,,a@example.com\n2,b\n" }), "line 3");
    await invalid(client.importIdentities({ csv: 'user_id,username,external_id,email\n1,"unterminated,,\n' }), "csv");
  });
});

describe("offline (CLI) identity directory", () => {
  test("parses identities.csv and resolves like the KV directory", async () => {
    const records = parseIdentitiesCsv("user_id,username,external_id,email\n1,ann,ext-ann,ann@example.com\n2,ben,,\n", "identities.csv");
    const derive = hmacExternalIds("cli-key-0123456789abcdef");
    const dir = staticIdentityDirectory(records, derive);
    assert.deepEqual(await dir.resolve({ kind: "username", value: "ann" }), { externalId: "ext-ann", email: "ann@example.com" });
    assert.deepEqual(await dir.resolve({ kind: "username", value: "ben" }), { externalId: derive({ kind: "user_id", value: "2" }) });
    assert.deepEqual(await dir.resolve({ kind: "user_id", value: "3" }), { externalId: derive({ kind: "user_id", value: "3" }) });
  });

  test("parse errors name the file and line", () => {
    assert.throws(
      () => parseIdentitiesCsv("user_id,username,external_id,email\n1,ann,,\n,,,\n", "identities.csv"),
      (e: unknown) => e instanceof ValidationError && e.message === "identities.csv: line 3: user_id: user_id or username is required",
    );
  });
});

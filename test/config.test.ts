import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { CONFIG_VARS, ConfigError, configHelp, loadConfig } from "../src/config.js";

test("defaults give a working configuration", () => {
  const c = loadConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.host, "127.0.0.1");
  assert.equal(c.natsUrl, undefined);
  assert.equal(c.xapiEnabled, true);
  assert.equal(c.caliperEnabled, false);
  assert.equal(c.agentIfiType, "external_id");
  assert.match(c.transformerVersion, /^event-routing@\d+\.\d+\.\d+/);
  assert.deepEqual(c.criticalEvents, [
    "edx.course.enrollment.activated",
    "edx.course.enrollment.deactivated",
    "edx.course.grade.passed.first_time",
  ]);
  assert.equal(c.lmsRootUrl, "http://localhost:18000");
});

test("a bad value names the variable and the accepted form", () => {
  assert.throws(
    () => loadConfig({ PORT: "eighty", XAPI_AGENT_IFI_TYPE: "email", LMS_ROOT_URL: "ftp://x" }),
    (e: Error) =>
      e instanceof ConfigError &&
      /PORT="eighty": expected a whole number/.test(e.message) &&
      /XAPI_AGENT_IFI_TYPE="email": expected external_id, mbox or mbox_sha1sum/.test(e.message) &&
      /LMS_ROOT_URL="ftp:\/\/x": expected an http\(s\) URL/.test(e.message),
  );
  assert.throws(() => loadConfig({ CALIPER_ENABLED: "maybe" }), /CALIPER_ENABLED="maybe": expected true or false/);
  assert.throws(
    () => loadConfig({ DELIVERY_HTTP_TIMEOUT_MS: "30000", DELIVERY_COUNTDOWN_MS: "30000" }),
    /DELIVERY_HTTP_TIMEOUT_MS must be below/,
  );
});

test("lists and URLs are normalised", () => {
  const [a, b] = ["emit-token-a-0123456789abcdef", "emit-token-b-0123456789abcdef"];
  const c = loadConfig({ EMIT_TOKENS: ` ${a}, ${b} ,,`, LMS_ROOT_URL: "https://lms.example.org/" });
  assert.deepEqual(c.emitTokens, [a, b]);
  assert.equal(c.lmsRootUrl, "https://lms.example.org");
});

test("--help and the README list every variable", () => {
  const help = configHelp();
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  for (const spec of Object.values(CONFIG_VARS)) {
    assert.ok(help.includes(spec.name), `--help lists ${spec.name}`);
    assert.ok(readme.includes(`| \`${spec.name}\` |`), `README's configuration table lists ${spec.name}`);
  }
});

test("TLS and NATS authentication variables come in consistent sets", () => {
  assert.throws(() => loadConfig({ TLS_CERT_FILE: "/etc/er/cert.pem" }), /TLS_CERT_FILE is set but TLS_KEY_FILE is not/);
  assert.throws(() => loadConfig({ NATS_TLS_KEY_FILE: "/etc/er/nats.key" }), /NATS_TLS_KEY_FILE is set but NATS_TLS_CERT_FILE is not/);
  assert.throws(() => loadConfig({ NATS_CREDS: "/a.creds", NATS_NKEY_SEED_FILE: "/a.nk" }), /choose one way to authenticate/);
  const c = loadConfig({ TLS_CERT_FILE: "/c.pem", TLS_KEY_FILE: "/k.pem", HTTP2_MAX_CONCURRENT_STREAMS: "50", MAX_CONNECTIONS: "10" });
  assert.equal(c.tlsCertFile, "/c.pem");
  assert.equal(c.http2MaxConcurrentStreams, 50);
  assert.equal(c.maxConnections, 10);
  assert.equal(loadConfig({}).httpIdleTimeoutMs, 120_000);
});

/** loadConfig's message, for checking what it shows and what it must not. */
function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail("the configuration was accepted");
}

test("weak tokens are refused naming the variable and the rule, never the token", () => {
  for (const [name, value, rule] of [
    [
      "ADMIN_TOKENS",
      "abc",
      /ADMIN_TOKENS \(value not shown\): the token has 3 characters; at least 24 are needed; generate one with: openssl rand/,
    ],
    ["ADMIN_TOKENS", "change-me-admin", /ADMIN_TOKENS \(value not shown\): the token is a placeholder from an example/],
    ["EMIT_TOKENS", "change-me-emit", /EMIT_TOKENS \(value not shown\): the token is a placeholder/],
    // Long is not enough: the deploy examples' values are known to everyone.
    ["EMIT_TOKENS", "CHANGEME-emit-token-for-the-lms", /EMIT_TOKENS \(value not shown\): the token is a placeholder/],
    ["EMIT_TOKENS", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", /EMIT_TOKENS \(value not shown\): the token is a placeholder/],
    ["EMIT_TOKENS", "good-emit-token-0123456789abcdef,Sh0rt-t0k", /EMIT_TOKENS \(value not shown\): token 2 has 9 characters/],
    ["EMIT_TOKENS", "a token with spaces in it 0123456789", /EMIT_TOKENS \(value not shown\): the token contains a space/],
  ] as const) {
    const message = configError({ [name]: value });
    assert.match(message, rule);
    for (const t of value.split(",")) assert.ok(!message.includes(t), `${name}: the message shows the token: ${message}`);
  }
  const ok = loadConfig({ ADMIN_TOKENS: "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==" });
  assert.deepEqual(ok.adminTokens, ["Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA=="]);
});

test("secret variables: errors give the rule, never the value; URLs are shown without their user info", () => {
  const message = configError({
    IDENTITY_HMAC_SECRET: "Sh0rtHmac",
    EVENT_BUS_REDIS_CONNECTION_URL: "redis://:Redis-Pa55@redis:notaport/0",
    NATS_URL: "nats://er:Nats-Pa55@nats:4222/extra",
  });
  assert.match(message, /IDENTITY_HMAC_SECRET \(value not shown\): expected at least 16 characters/);
  assert.match(
    message,
    /EVENT_BUS_REDIS_CONNECTION_URL="redis:\/\/\*\*\*@redis:notaport\/0": "redis:\/\/\*\*\*@redis:notaport\/0" is not a Redis URL/,
  );
  assert.match(message, /NATS_URL="nats:\/\/\*\*\*@nats:4222\/extra": "nats:\/\/\*\*\*@nats:4222\/extra" is not a NATS server URL/);
  for (const secret of ["Sh0rtHmac", "Redis-Pa55", "Nats-Pa55", ":er"]) assert.ok(!message.includes(secret), `shows ${secret}: ${message}`);
  assert.match(
    configError({ IDENTITY_HMAC_SECRET: "change-me-to-a-long-random-string" }),
    /IDENTITY_HMAC_SECRET \(value not shown\): a placeholder/,
  );
  // A password with an unescaped / makes the URL unparsable (":Pw" reads as a host with a bad port): still hidden whole.
  const odd = configError({ EVENT_BUS_REDIS_CONNECTION_URL: "redis://:Pw/w0rd@redis:6379/0" });
  assert.match(odd, /"redis:\/\/\*\*\*@redis:6379\/0" is not a Redis URL/);
  assert.ok(!odd.includes("Pw") && !odd.includes("w0rd"), odd);
  const help = configHelp();
  assert.match(help, /ADMIN_TOKENS[^\n]*Secret: never shown\./);
  assert.match(help, /NATS_URL[^\n]*Secret: shown without user info\./);
});

test("NATS_URL user info: the same on every URL, and not with another way to authenticate", () => {
  assert.equal(loadConfig({ NATS_URL: "nats://er:pw@n1:4222,nats://er:pw@n2:4222" }).natsUrl, "nats://er:pw@n1:4222,nats://er:pw@n2:4222");
  assert.match(
    configError({ NATS_URL: "nats://er:pw@n1:4222,nats://other:pw2@n2:4222" }),
    /NATS_URL="nats:\/\/\*\*\*@n1:4222,nats:\/\/\*\*\*@n2:4222": the URLs carry different user info/,
  );
  assert.match(
    configError({ NATS_URL: "nats://er:pw@n1:4222", NATS_CREDS: "/a.creds" }),
    /NATS_URL carries a user or token and NATS_CREDS/,
  );
});

test("two listeners on one port are refused, naming both variables", () => {
  assert.match(configError({ PORT: "8080", CONSOLE_PORT: "8080" }), /PORT and CONSOLE_PORT are both 8080/);
  assert.match(configError({ METRICS_PORT: "9464", CONSOLE_PORT: "9464" }), /METRICS_PORT and CONSOLE_PORT are both 9464/);
  assert.match(configError({ PORT: "9000", METRICS_PORT: "9000" }), /PORT and METRICS_PORT are both 9000/);
  // 0 is any free port (or metrics off), never a clash.
  assert.equal(loadConfig({ PORT: "0", CONSOLE_PORT: "0" }).consolePort, 0);
  assert.equal(loadConfig({ CONSOLE_PORT: "8090" }).consolePort, 8090);
});

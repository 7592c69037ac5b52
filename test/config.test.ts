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
  const c = loadConfig({ EMIT_TOKENS: " a, b ,,", LMS_ROOT_URL: "https://lms.example.org/" });
  assert.deepEqual(c.emitTokens, ["a", "b"]);
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

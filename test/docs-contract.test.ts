/**
 * The docs name only what exists: every snake_case field (or dotted field path) that docs/delivery.md and
 * docs/operations.md show in backticks is a field of a message in the contract (walked from the generated
 * descriptors), unless it is one of the JetStream names below, which the docs cite from nats-server; and every
 * repository file they cite exists.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import type { DescFile } from "@bufbuild/protobuf";
import { file_eventrouting_v1_directory_admin_service } from "../gen/eventrouting/v1/directory_admin_service_pb.js";
import { file_eventrouting_v1_event } from "../gen/eventrouting/v1/event_pb.js";
import { file_eventrouting_v1_event_routing_service } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { file_eventrouting_v1_ingest_admin_service } from "../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { file_eventrouting_v1_router_admin_service } from "../gen/eventrouting/v1/router_admin_service_pb.js";

const FILES: DescFile[] = [
  file_eventrouting_v1_event,
  file_eventrouting_v1_event_routing_service,
  file_eventrouting_v1_router_admin_service,
  file_eventrouting_v1_directory_admin_service,
  file_eventrouting_v1_ingest_admin_service,
];

/** JetStream stream/consumer configuration and state fields (nats-server's JSON names), cited as such. */
const JETSTREAM_NAMES = new Set([
  "ack_wait",
  "max_deliver",
  "max_ack_pending",
  "max_age",
  "max_bytes",
  "max_msgs",
  "max_file_store",
  "num_pending",
  "num_ack_pending",
  "num_redelivered",
  "ack_floor",
  "stream_seq",
  "duplicate_window",
  "deliver_policy",
  "ack_policy",
  "filter_subject",
  "discard",
  "retention",
]);

/** OAuth 2 protocol names (RFC 6749, RFC 8707), cited as such. */
const OAUTH_NAMES = new Set([
  "grant_type",
  "client_credentials",
  "client_secret_basic",
  "client_secret_post",
  "expires_in",
  "token_type",
  "invalid_client",
]);

/** Names that are not fields: the settings bucket's key, metric label values. */
const OTHER_NAMES = new Set(["identity_hmac_key", "no_transformer", "not_running_here", "invalid_argument"]);

function contractFieldNames(): Set<string> {
  const names = new Set<string>();
  const walk = (messages: DescFile["messages"]) => {
    for (const m of messages) {
      for (const f of m.fields) names.add(f.name);
      walk(m.nestedMessages);
    }
  };
  for (const f of FILES) walk(f.messages);
  return names;
}

const DOCS = ["docs/delivery.md", "docs/operations.md"];

test("every contract field name the docs show exists in the contract", () => {
  const fields = contractFieldNames();
  assert.ok(fields.has("countdown") && fields.has("batch_interval") && !fields.has("countdown_ms"));
  for (const doc of DOCS) {
    const text = readFileSync(new URL(`../${doc}`, import.meta.url), "utf8");
    const shown = new Set([...text.matchAll(/`([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)`/g)].map((m) => m[1]!));
    for (const token of shown) {
      if (!token.includes("_") && !token.includes(".")) continue; // plain words: "status", "enabled", log keys
      if (token.startsWith("edx.") || /^[a-z]+\.(v1|ingest|deliver|failed|rejected)\b/.test(token)) continue; // event names, subjects
      if (JETSTREAM_NAMES.has(token) || OTHER_NAMES.has(token) || OAUTH_NAMES.has(token)) continue;
      if (/^(eventrouting|event_routing)_/.test(token)) continue; // KV buckets, metric names
      for (const part of token.split(".")) assert.ok(fields.has(part), `${doc}: \`${token}\` is not a contract field (${part})`);
    }
  }
});

test("every repository file the docs cite exists", () => {
  for (const doc of DOCS) {
    const text = readFileSync(new URL(`../${doc}`, import.meta.url), "utf8");
    const cited = new Set(
      [...text.matchAll(/`((?:src|test|bench|deploy|scripts|docs|proto)\/[A-Za-z0-9_./-]+\.[a-z]+)`/g)].map((m) => m[1]!),
    );
    for (const path of cited) assert.ok(existsSync(new URL(`../${path}`, import.meta.url)), `${doc} cites ${path}`);
    for (const m of text.matchAll(/\b([A-Z][A-Z0-9-]+\.md)\b/g)) {
      assert.ok(
        existsSync(new URL(`../${m[1]}`, import.meta.url)) || existsSync(new URL(`../docs/${m[1]}`, import.meta.url)),
        `${doc} cites ${m[1]}`,
      );
    }
  }
});

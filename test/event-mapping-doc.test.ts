/** docs/event-mapping.md is generated from the registries; this fails when the committed file is stale. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { EVENT_MAPPING_PATH, renderEventMapping } from "../scripts/generate-event-mapping.js";
import { createXapiRegistry } from "../src/transform/xapi/index.js";

test("docs/event-mapping.md is up to date with the registries (run `npm run docs:mapping`)", () => {
  const committed = readFileSync(EVENT_MAPPING_PATH, "utf8");
  assert.equal(committed, renderEventMapping(), "docs/event-mapping.md is stale: run `npm run docs:mapping`");
});

test("the mapping table lists every xAPI name (67) with its verb", () => {
  const doc = renderEventMapping();
  const rows = doc.split("\n").filter((l) => l.startsWith("| `"));
  const xapi = createXapiRegistry();
  assert.equal(xapi.eventNames().length, 67);
  for (const name of xapi.eventNames()) {
    const row = rows.find((r) => r.startsWith(`| \`${name}\` |`));
    assert.ok(row, `no row for ${name}`);
    assert.ok(row.includes(xapi.get(name)!.mapping.verb.split(" ")[0]!), `row for ${name} lacks its verb`);
  }
  assert.ok(rows.length >= 67);
  assert.equal(new Set(rows.map((r) => r.split(" | ")[0])).size, rows.length, "one row per event name");
});

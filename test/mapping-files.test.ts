// biome-ignore-all lint/suspicious/noTemplateCurlyInString: mapping templates use ${...} in plain strings.
/**
 * Mapping files and the offline commands (issue 23): `replay --offline --mappings DIR` and `transform --mappings
 * DIR` use a directory of YAML/JSON mapping files (a file may hold several) as the service uses its bucket; a
 * mapping that the service would refuse stops the run with the file and the field named; --mappings without
 * --offline is a usage error.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Backend } from "../gen/eventrouting/v1/event_pb.js";
import { readMappings } from "../src/cli/mapping-input.js";
import { cliArgs } from "./support/entrypoints.js";

const dir = mkdtempSync(join(tmpdir(), "er-mappings-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const EVENT = {
  name: "edx.bookmark.added",
  timestamp: "2024-03-01T10:00:00.123456+00:00",
  context: { user_id: 7, course_id: "course-v1:edX+Demo+2024", org_id: "edX" },
  data: {
    course_id: "course-v1:edX+Demo+2024",
    component_type: "vertical",
    component_usage_id: "block-v1:edX+Demo+2024+type@vertical+block@abc",
  },
};

const YAML_MAPPING = `# a bookmark, as an xAPI statement
id: bookmark-added
backend: xapi
event_names: [edx.bookmark.added]
conditions:
  - require: data.component_usage_id
    skip_reason: no bookmarked component
statements:
  - verb: {id: "https://w3id.org/xapi/adl/verbs/bookmarked", display: {en-US: bookmarked}}
    object:
      id: "\${xblock_iri(data.component_usage_id)}"
      definition: {type: "http://adlnet.gov/expapi/activities/module", name: {en-US: "\${data.component_type}"}}
samples:
  - ${JSON.stringify(EVENT)}
`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  const child = spawn(process.execPath, [...cliArgs(), ...args], {
    env: { ...process.env, IDENTITY_HMAC_SECRET: "mapping-files-test-secret-0123", LMS_ROOT_URL: "http://lms.example.org" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b));
  child.stderr.on("data", (b: Buffer) => (stderr += b));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}

test("a YAML mapping file reads as the proto Mapping, short backend names included", () => {
  const mappings = mkdtempSync(join(dir, "read-"));
  writeFileSync(join(mappings, "bookmark.yaml"), YAML_MAPPING);
  const m = readMappings(join(mappings, "bookmark.yaml"))[0]!.mapping;
  assert.equal(m.id, "bookmark-added");
  assert.equal(m.backend, Backend.XAPI);
  assert.equal(m.samples.length, 1);
  writeFileSync(join(mappings, "typo.json"), JSON.stringify({ id: "x", backend: "xapi", statments: [] }));
  assert.throws(() => readMappings(join(mappings, "typo.json")), /typo\.json: .*statments/);
});

test("replay --offline --mappings and transform --mappings use the mapping files", async () => {
  const mappings = mkdtempSync(join(dir, "ok-"));
  writeFileSync(join(mappings, "bookmark.yaml"), YAML_MAPPING);
  writeFileSync(join(mappings, "README.txt"), "not a mapping: ignored");
  const log = join(dir, "events.log");
  writeFileSync(log, `${JSON.stringify(EVENT)}\n${JSON.stringify({ ...EVENT, data: { course_id: "x" } })}\n`);
  const out = join(dir, "offline.ndjson");
  const replay = await cli(["replay", "--offline", "--mappings", mappings, "--output", out, "--no-progress", log]);
  assert.equal(replay.code, 0, replay.stderr);
  assert.match(replay.stdout, /transformed 1/);
  assert.match(replay.stderr + replay.stdout, /no bookmarked component/);
  const lines = readFileSync(out, "utf8").trim().split("\n");
  assert.equal(lines.length, 1);
  const statement = JSON.stringify(JSON.parse(lines[0]!));
  assert.match(statement, /https:\/\/w3id\.org\/xapi\/adl\/verbs\/bookmarked/);
  assert.match(statement, /http:\/\/lms\.example\.org\/xblock\/block-v1:edX\+Demo\+2024\+type@vertical\+block@abc/);

  const transform = await cli(["transform", "--mappings", mappings, "--backend", "xapi", log]);
  assert.equal(transform.code, 0, transform.stderr);
  assert.match(transform.stdout, /verbs\/bookmarked/);

  const without = await cli(["replay", "--offline", "--output", join(dir, "without.ndjson"), "--no-progress", log]);
  assert.equal(without.code, 0, without.stderr);
  assert.doesNotMatch(without.stdout, /transformed 1/, "without the mapping the event has no transformer");
});

test("a mapping file the service would refuse stops the run, naming the file and the field", async () => {
  const mappings = mkdtempSync(join(dir, "bad-"));
  writeFileSync(join(mappings, "bad.yaml"), YAML_MAPPING.replace("https://w3id.org/xapi/adl/verbs/bookmarked", "bookmarked"));
  const log = join(dir, "one.log");
  writeFileSync(log, `${JSON.stringify(EVENT)}\n`);
  const r = await cli(["replay", "--offline", "--mappings", mappings, "--output", join(dir, "bad.ndjson"), log]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /bad\.yaml: samples\[0\]: statement 0: verb\.id: /);
  const notOffline = await cli(["replay", "--mappings", mappings, log]);
  assert.notEqual(notOffline.code, 0);
  assert.match(notOffline.stderr, /--mappings is for --offline/);
});

test("--mappings DIR reads every mapping of a file holding several, and refuses one id used twice", async () => {
  const removed = YAML_MAPPING.replace("id: bookmark-added", "id: bookmark-removed").replaceAll(
    "edx.bookmark.added",
    "edx.bookmark.removed",
  );
  const mappings = mkdtempSync(join(dir, "multi-"));
  writeFileSync(join(mappings, "bookmarks.yaml"), `${YAML_MAPPING}---\n${removed}`);
  const log = join(dir, "both.log");
  writeFileSync(log, `${JSON.stringify(EVENT)}\n${JSON.stringify({ ...EVENT, name: "edx.bookmark.removed" })}\n`);
  const r = await cli(["transform", "--mappings", mappings, "--backend", "xapi", log]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.match(/verbs\/bookmarked/g)?.length, 2, r.stdout);

  const twice = mkdtempSync(join(dir, "twice-"));
  writeFileSync(join(twice, "bookmarks.yaml"), `${YAML_MAPPING}---\n${YAML_MAPPING}`);
  const dup = await cli(["transform", "--mappings", twice, "--backend", "xapi", log]);
  assert.notEqual(dup.code, 0);
  assert.match(dup.stderr, /bookmarks\.yaml\[1\]: mapping id bookmark-added is also used by .*bookmarks\.yaml\[0\]/);
});

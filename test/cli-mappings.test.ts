// biome-ignore-all lint/suspicious/noTemplateCurlyInString: mapping templates use ${...} in plain strings.
/**
 * `event-routing mappings` as an operator runs it (a child process) against a real service: apply creates and then
 * updates from YAML, a directory with a refused mapping applies the others and exits 5 naming the field, list and
 * list --event show who handles an event, get prints YAML that apply takes back, test prints the statements of a
 * stored or a file mapping (exit 5 when skipped), delete, and the exit codes of the failures.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { ADMIN_TOKEN, startServiceUnderTest, type ServiceUnderTest } from "./support/service-under-test.js";
import { cliArgs, runCli } from "./support/entrypoints.js";

const exec = promisify(execFile);
let sut: ServiceUnderTest;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "er-cli-mappings-"));
  sut = await startServiceUnderTest({ CALIPER_ENABLED: "false", LMS_ROOT_URL: "http://lms.example.org" });
});
after(async () => {
  await sut?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args, { ...process.env, EVENT_ROUTING_URL: sut.baseUrl, EVENT_ROUTING_TOKEN: ADMIN_TOKEN });
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const BOOKMARK_SAMPLE = JSON.stringify({
  name: "edx.bookmark.added",
  timestamp: "2024-03-01T10:00:00.123456+00:00",
  context: { user_id: 7, course_id: "course-v1:edX+Demo+2024", org_id: "edX" },
  data: {
    course_id: "course-v1:edX+Demo+2024",
    component_type: "vertical",
    component_usage_id: "block-v1:edX+Demo+2024+type@vertical+block@abc",
  },
});

/** A bookmark mapping; a test may change its verb (to make it invalid), its display or how it names its events. */
function bookmarkYaml(id: string, over: { display?: string; verbId?: string; events?: string } = {}): string {
  return [
    `id: ${id}`,
    "backend: xapi",
    over.events ?? "event_names: [edx.bookmark.added]",
    "conditions:",
    "  - {require: data.component_usage_id, skip_reason: no bookmarked component}",
    "statements:",
    `  - verb: {id: "${over.verbId ?? "http://id.tincanapi.com/verb/bookmarked"}", display: {en: ${over.display ?? "bookmarked"}}}`,
    "    object:",
    '      id: "${xblock_iri(data.component_usage_id)}"',
    "      definition: {type: http://adlnet.gov/expapi/activities/module}",
    "samples:",
    `  - ${BOOKMARK_SAMPLE}`,
    "",
  ].join("\n");
}

test("apply creates from YAML, applying again updates; list, list --event and get show it; get's YAML applies back", async () => {
  const path = file("bookmark.yaml", bookmarkYaml("cli-bookmark"));
  const created = await cli(["mappings", "apply", "-f", path]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /^created cli-bookmark \(revision \d+\)$/m);

  writeFileSync(path, bookmarkYaml("cli-bookmark", { display: "saved" }));
  const updated = await cli(["mappings", "apply", "-f", path]);
  assert.equal(updated.code, 0, updated.stderr);
  assert.match(updated.stdout, /^updated cli-bookmark/m);

  const list = await cli(["mappings", "list", "--event", "edx.bookmark.added"]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^ID\s+BACKEND\s+EVENTS\s+REPLACES BUILTIN\s+ENABLED\s+REVISION/);
  assert.match(list.stdout, /cli-bookmark\s+xapi\s+edx\.bookmark\.added\s+no\s+yes\s+\d+/);
  assert.match(list.stdout, /^active for edx\.bookmark\.added: xapi: mapping:cli-bookmark/m);
  const builtin = await cli(["mappings", "list", "--event", "edx.video.played", "--json"]);
  assert.deepEqual(JSON.parse(builtin.stdout), [], "no mapping handles a built-in event here");

  const get = await cli(["mappings", "get", "cli-bookmark"]);
  assert.equal(get.code, 0, get.stderr);
  assert.match(get.stdout, /^# revision \d+, created \S+Z, updated \S+Z$/m);
  assert.match(get.stdout, /display:\n\s+en: saved/);
  const back = await cli(["mappings", "apply", "-f", file("from-get.yaml", get.stdout)]);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /^updated cli-bookmark/m);
});

test("a directory with a refused mapping: the valid ones are applied, the refused one named with its field, exit 5", async () => {
  const d = join(dir, "several");
  mkdirSync(d);
  // Patterns never clash; dir-clash names exactly an event that cli-bookmark (the first test's) handles.
  const pattern = "event_pattern: 'edx\\.bookmark\\.add.*'";
  writeFileSync(join(d, "a-good.yaml"), `${bookmarkYaml("dir-good", { events: pattern })}---\n${bookmarkYaml("dir-clash")}`);
  writeFileSync(join(d, "b-bad.yml"), bookmarkYaml("dir-bad", { verbId: "not an iri", events: pattern }));
  writeFileSync(join(d, "notes.txt"), "not a mapping file: ignored");
  const r = await cli(["mappings", "apply", "-f", d]);
  assert.equal(r.code, 5, r.stdout);
  assert.match(r.stdout, /^created dir-good /m);
  assert.match(r.stderr, /b-bad\.yml: dir-bad: refused: mapping\.samples\[0\]: statement 0: verb\.id/);
  assert.match(r.stderr, /a-good\.yaml\[1\]: dir-clash: refused: mapping\.event_names\[0\]: "edx\.bookmark\.added" is already handled/);
  assert.equal((await cli(["mappings", "get", "dir-bad"])).code, 2, "the refused mapping is not stored");
});

test("test prints the statements of a stored mapping and of a file mapping; a skipped event exits 5 with the reason", async () => {
  const event = file("event.json", BOOKMARK_SAMPLE);
  const stored = await cli(["mappings", "test", "cli-bookmark", "--event", event]);
  assert.equal(stored.code, 0, stored.stderr);
  const statements = JSON.parse(stored.stdout) as Array<Record<string, Record<string, unknown>>>;
  assert.equal(statements.length, 1);
  assert.equal(statements[0]!["verb"]!["id"], "http://id.tincanapi.com/verb/bookmarked");
  assert.equal(statements[0]!["object"]!["id"], "http://lms.example.org/xblock/block-v1:edX+Demo+2024+type@vertical+block@abc");

  const inline = await cli(["mappings", "test", "-f", file("inline.yaml", bookmarkYaml("not-stored")), "--event", event, "--json"]);
  assert.equal(inline.code, 0, inline.stderr);
  const res = JSON.parse(inline.stdout) as { matches: boolean; skipped: boolean; statements: unknown[]; problems: string[] };
  assert.equal(res.matches, true);
  assert.equal(res.statements.length, 1);
  assert.deepEqual(res.problems, []);
  assert.equal((await cli(["mappings", "get", "not-stored"])).code, 2, "test stores nothing");

  const noComponent = file("no-component.json", BOOKMARK_SAMPLE.replace('"component_usage_id"', '"other_key"'));
  const skipped = await cli(["mappings", "test", "cli-bookmark", "--event", noComponent]);
  assert.equal(skipped.code, 5);
  assert.match(skipped.stderr, /^skipped: no bookmarked component$/m);
});

test("delete, then get is not found; usage errors and a wrong token have their exit codes", async () => {
  const del = await cli(["mappings", "delete", "cli-bookmark"]);
  assert.equal(del.code, 0, del.stderr);
  assert.equal(del.stdout, "deleted cli-bookmark\n");
  const gone = await cli(["mappings", "get", "cli-bookmark"]);
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, /^not found: /);
  assert.equal((await cli(["mappings", "apply"])).code, 1);
  assert.equal((await cli(["mappings", "test", "x"])).code, 1, "test without --event");
  const typo = await cli(["mappings", "apply", "-f", file("typo.yaml", "id: typo\nbackend: xapi\nevent_nams: [a]\n")]);
  assert.equal(typo.code, 1);
  assert.match(typo.stderr, /typo\.yaml: .*event_nams/);
  const { stderr, code } = await exec(process.execPath, [...cliArgs(), "mappings", "list"], {
    env: { ...process.env, EVENT_ROUTING_URL: sut.baseUrl, EVENT_ROUTING_TOKEN: "wrong-token-wrong-token-0123" },
  }).then(
    () => ({ stderr: "", code: 0 }),
    (e: { stderr: string; code: number }) => e,
  );
  assert.equal(code, 4);
  assert.match(stderr, /^not allowed: /);
});

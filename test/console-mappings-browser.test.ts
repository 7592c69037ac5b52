/**
 * The console's custom mappings in a real browser (Debian's chromium driven by playwright-core, headless) against a
 * real service, as test/console-browser.test.ts does for the other pages: an example mapping pasted into the
 * editor with a wrong verb shows TestMapping's problems and Create's refusal naming the field; fixed, its
 * statement is shown for a sample and it is created; the list and the "which transformer" look-up show it; it is
 * edited (a sample picked from the mapping itself) and deleted. Every wait is on a DOM state; deadlines are guards.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { toJson } from "@bufbuild/protobuf";
import { chromium, type Browser, type Page } from "playwright-core";
import { MappingSchema } from "../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { readMappings } from "../src/cli/mapping-input.js";
import { buildConsole } from "./support/console-build.js";
import { waitUntil } from "./support/http-endpoints.js";
import { ADMIN_TOKEN, startServiceUnderTest, type ServiceUnderTest } from "./support/service-under-test.js";

const CHROMIUM = process.env["CHROMIUM_BIN"] ?? "/usr/bin/chromium";
const GUARD_MS = 20_000;
const shots = process.env["CONSOLE_SCREENSHOTS_DIR"] ?? mkdtempSync(path.join(tmpdir(), "console-mapping-shots-"));

let sut: ServiceUnderTest;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

/** The bookmark example as the editor holds it: the Mapping's JSON form. */
const example = toJson(MappingSchema, readMappings("examples/mappings/bookmark-added.yaml")[0]!.mapping, { useProtoFieldName: true }) as {
  samples: unknown[];
};
const exampleText = JSON.stringify(example, null, 2);

before(async () => {
  buildConsole();
  sut = await startServiceUnderTest({ CONSOLE_PORT: "0", LMS_ROOT_URL: "http://lms.example.org" });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  page.setDefaultTimeout(GUARD_MS);
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(`${m.text()} @ ${m.location().url}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`pageerror: ${e.message}`));
  page.on("dialog", (d) => void d.accept());
  await page.goto(`http://127.0.0.1:${sut.service.consolePort}/`);
  await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Routers" }).waitFor();
});

after(async () => {
  await browser?.close();
  await sut?.close();
});

test("new mapping: a wrong verb shows TestMapping's problem and Create's refusal naming the field; fixed, it is created", async () => {
  await page.getByRole("link", { name: "Custom mappings" }).click();
  await page.getByText("No custom mappings yet.").waitFor();
  await page.getByRole("link", { name: "New mapping" }).click();
  await page.getByRole("heading", { name: "New mapping" }).waitFor();
  const editor = page.getByLabel(/^Mapping \(JSON/);
  await editor.fill(exampleText.replace("http://id.tincanapi.com/verb/bookmarked", "not an iri"));
  await page.getByLabel(/Tracking event/).fill(JSON.stringify(example.samples[0]));
  await page.getByRole("button", { name: "Test" }).click();
  await page.locator("[data-problems] li").filter({ hasText: "statement 0: verb.id" }).waitFor();
  await page.getByRole("button", { name: "Create" }).click();
  await page
    .getByRole("alert")
    .filter({ hasText: /mapping\.samples\[0\]: statement 0: verb\.id/ })
    .waitFor();

  await editor.fill(exampleText);
  await page.getByRole("button", { name: "Test" }).click();
  await page.getByRole("heading", { name: "1 valid statement(s)" }).waitFor();
  assert.match(
    (await page.locator(".mapping-test pre.json").first().textContent()) ?? "",
    /"http:\/\/id\.tincanapi\.com\/verb\/bookmarked"/,
  );
  await page.screenshot({ path: path.join(shots, "mapping-editor.png"), fullPage: true });
  await page.getByRole("button", { name: "Create" }).click();
  await page.locator('tr[data-mapping="bookmark-added"]').waitFor();
});

test("the list's look-up names the transformer active for an event per backend", async () => {
  await page.getByLabel("Event name").fill("edx.bookmark.added");
  await page.getByRole("button", { name: "Show" }).click();
  await page.locator('[data-active] li[data-backend="xAPI"]').filter({ hasText: "xAPI: mapping:bookmark-added" }).waitFor();
  await page.getByLabel("Event name").fill("edx.video.played");
  await page.getByRole("button", { name: "Show" }).click();
  await page.locator('[data-active] li[data-backend="xAPI"]').filter({ hasText: "xAPI: builtin" }).waitFor();
  await page.screenshot({ path: path.join(shots, "mappings.png"), fullPage: true });
});

test("edit: the stored mapping loads, a sample of its own is tested, a change is saved; then it is deleted", async () => {
  await page.getByRole("link", { name: "Edit bookmark-added" }).click();
  await page.getByRole("heading", { name: "Mapping bookmark-added" }).waitFor();
  const editor = page.getByLabel(/^Mapping \(JSON/);
  await waitUntil(async () => (await editor.inputValue()).includes('"id": "bookmark-added"'), GUARD_MS, "the stored mapping in the editor");
  await page.getByLabel("Sample").selectOption("0");
  await page.getByRole("button", { name: "Test" }).click();
  await page.getByRole("heading", { name: "1 valid statement(s)" }).waitFor();
  const text = await editor.inputValue();
  await editor.fill(text.replace('"display_name": "Bookmark added"', '"display_name": "Bookmark added (edited)"'));
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator('tr[data-mapping="bookmark-added"]').filter({ hasText: "Bookmark added (edited)" }).waitFor();
  await page.getByRole("button", { name: "Delete bookmark-added" }).click();
  await page.getByText("No custom mappings yet.").waitFor();
});

test("no console errors or CSP violations on the mapping pages", () => {
  const unexpected = consoleErrors.filter(
    (e) => !/^Failed to load resource: the server responded with a status of 400 .*@ http:\/\/127\.0\.0\.1:\d+\/eventrouting\.v1\./.test(e),
  );
  assert.deepEqual(unexpected, []);
});

/**
 * ERB's fixtures, read in place from ERB_FIXTURES_DIR (default ../shared/reference/erb-fixtures beside the repo;
 * the data is not copied into the repo), and the settings ERB's own tests use.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseEventJson, type EdxEvent, type JsonObject } from "../../src/transform/edx-event.js";
import type { BackendName } from "../../src/transform/registry.js";
import type { TransformEnv } from "../../src/transform/transform-env.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const ERB_FIXTURES_DIR = resolve(REPO_ROOT, process.env["ERB_FIXTURES_DIR"] ?? "../shared/reference/erb-fixtures");
export const CALIPER_REFERENCE_DIR = resolve(REPO_ROOT, process.env["CALIPER_REFERENCE_DIR"] ?? "../shared/reference/caliper");

/** ERB test_settings + test_utils mocks: every user resolves to this external id, every course to this name. */
export const ERB_TEST_EXTERNAL_ID = "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb";
export const ERB_TEST_ENV: TransformEnv = {
  lmsRootUrl: "http://localhost:18000",
  transformerVersion: "event-routing-backends@1.1.1",
  agentIfiType: "external_id",
  user: { externalId: ERB_TEST_EXTERNAL_ID, email: "edx@example.com" },
  courseName: "Demonstration Course",
};

/** The env for an anonymous event: what the ingest layer passes when no user can be resolved. */
export const ERB_TEST_ENV_NO_USER: TransformEnv = { ...ERB_TEST_ENV, user: undefined };

/** Raw fixture file names (with .json), sorted. */
export function rawFixtureFiles(): string[] {
  return readdirSync(join(ERB_FIXTURES_DIR, "raw"))
    .filter((f) => f.endsWith(".json"))
    .sort();
}

export function readRawFixture(file: string): EdxEvent {
  return parseEventJson(readFileSync(join(ERB_FIXTURES_DIR, "raw", file), "utf8"));
}

/** Expected output as an array (ERB files hold one object or an array), or undefined when there is none. */
export function readExpectedFixture(backend: BackendName, file: string): JsonObject[] | undefined {
  const path = join(ERB_FIXTURES_DIR, backend, file);
  if (!existsSync(path)) return undefined;
  const parsed = JSON.parse(readFileSync(path, "utf8")) as JsonObject | JsonObject[];
  return Array.isArray(parsed) ? parsed : [parsed];
}

export function isAnonymousFixture(file: string): boolean {
  return file.includes("anonymous");
}

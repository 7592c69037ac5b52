/**
 * Transform and identity: which statements are produced (xAPI, Caliper, which event names), the IRIs they use, how
 * a learner is identified, and the course names read at start. Name filters are checked with the engine the filter
 * uses, so a bad pattern names its variable.
 */
import { existsSync, statSync } from "node:fs";
import { z } from "zod";
import { compileLinearPrefix, RegexSyntaxError } from "../linear-regex.js";
import type { AgentIfiType } from "../transform/transform-env.js";
import { PACKAGE_NAME, PACKAGE_VERSION } from "../version.js";
import { bool, list } from "./schemas.js";
import { secretKey } from "./secret-values.js";
import { secret, v } from "./var-spec.js";

/** Event-name regexes, checked here with the engine the filter uses, so a bad one names its variable. */
const regexList = list.superRefine((patterns, ctx) => {
  for (const p of patterns) {
    try {
      compileLinearPrefix(p);
    } catch (e) {
      if (!(e instanceof RegexSyntaxError)) throw e;
      ctx.addIssue({ code: "custom", message: e.message });
      return;
    }
  }
});
const httpUrl = z
  .string()
  .url("expected an http(s) URL")
  .refine((u) => /^https?:\/\//.test(u), "expected an http(s) URL")
  .transform((u) => u.replace(/\/+$/, ""));

export const TRANSFORM_VARS = {
  lmsRootUrl: v("LMS_ROOT_URL", "http://localhost:18000", "LMS root URL: actor homePage and every IRI.", httpUrl),
  transformerVersion: v(
    "TRANSFORMER_VERSION",
    `${PACKAGE_NAME}@${PACKAGE_VERSION}`,
    "Value of the transformer-version extension.",
    z.string().min(1),
  ),
  agentIfiType: v(
    "XAPI_AGENT_IFI_TYPE",
    "external_id",
    "xAPI actor: external_id, mbox or mbox_sha1sum.",
    z.enum(["external_id", "mbox", "mbox_sha1sum"], { error: "expected external_id, mbox or mbox_sha1sum" }) as z.ZodType<AgentIfiType>,
  ),
  xapiEnabled: v("XAPI_ENABLED", "true", "Produce xAPI statements.", bool),
  caliperEnabled: v("CALIPER_ENABLED", "false", "Produce Caliper events.", bool),
  xapiEvents: v("XAPI_EVENTS", "(every name with a transformer)", "Comma-separated allowlist of event names for xAPI.", list.optional()),
  xapiEventsRegex: v(
    "XAPI_EVENTS_REGEX",
    "(unset)",
    "Comma-separated regexes (anchored at the start) filtering xAPI names; replaces XAPI_EVENTS.",
    regexList.optional(),
  ),
  xapiEventsRegexMode: v(
    "XAPI_EVENTS_REGEX_MODE",
    "allowlist",
    "allowlist or blocklist, for XAPI_EVENTS_REGEX.",
    z.enum(["allowlist", "blocklist"]),
  ),
  caliperEvents: v(
    "CALIPER_EVENTS",
    "(every name with a transformer)",
    "Comma-separated allowlist of event names for Caliper.",
    list.optional(),
  ),
  caliperEventsRegex: v(
    "CALIPER_EVENTS_REGEX",
    "(unset)",
    "Comma-separated regexes filtering Caliper names; replaces CALIPER_EVENTS.",
    regexList.optional(),
  ),
  caliperEventsRegexMode: v(
    "CALIPER_EVENTS_REGEX_MODE",
    "allowlist",
    "allowlist or blocklist, for CALIPER_EVENTS_REGEX.",
    z.enum(["allowlist", "blocklist"]),
  ),
  caliperSensorId: v("CALIPER_SENSOR_ID", "(LMS_ROOT_URL)", "Caliper envelope sensor id.", z.string().min(1).optional()),
  identityHmacSecret: secret(
    "value",
    v(
      "IDENTITY_HMAC_SECRET",
      "(generated once, kept in NATS)",
      "Key deriving external ids for users not in the identity table (at least 16 characters).",
      secretKey(16).optional(),
    ),
  ),
  coursesFile: v(
    "COURSES_FILE",
    "(unset)",
    "CSV (course_id,name) or JSON ({course_id: name}) with course names, read at start.",
    z
      .string()
      .refine(
        (f) => existsSync(f) && statSync(f).isFile(),
        "file not found; expected the path of a CSV (course_id,name) or JSON ({course_id: name}) file",
      )
      .optional(),
  ),
};

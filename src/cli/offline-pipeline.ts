/**
 * The service's own emit pipeline without NATS, for the offline commands (`transform`, `replay --offline`): the
 * same configuration variables as the service (flags win), look-up tables from CSV files instead of KV buckets,
 * custom mappings from a directory of mapping files instead of the mappings bucket, and no routers.
 */
import { readFileSync } from "node:fs";
import type { Writable } from "node:stream";
import { loadConfig } from "../config.js";
import { parseCoursesCsv, parseIdentitiesCsv } from "../directory/csv.js";
import { hmacExternalIds } from "../directory/external-id.js";
import { staticCourseDirectory, staticIdentityDirectory } from "../directory/static-directories.js";
import { backendSettings } from "../ingest/backend-settings.js";
import type { PipelineDeps } from "../ingest/emit-pipeline.js";
import { natsNames } from "../nats/names.js";
import { loadMappingDir } from "./mapping-files.js";

export interface OfflineOptions {
  readonly lmsRootUrl?: string | undefined;
  readonly transformerVersion?: string | undefined;
  readonly identities?: string | undefined;
  readonly courses?: string | undefined;
  /** A directory of mapping files (mapping-files.ts): custom mappings in front of the built-ins, as in the service. */
  readonly mappings?: string | undefined;
}

/** The option definitions both commands accept, for node:util parseArgs. */
export const OFFLINE_ARG_OPTIONS = {
  "lms-root-url": { type: "string" },
  "transformer-version": { type: "string" },
  identities: { type: "string" },
  courses: { type: "string" },
  mappings: { type: "string" },
} as const;

/**
 * Users missing from --identities get a derived external id, as in the service. The service's key is either
 * IDENTITY_HMAC_SECRET or generated and kept in NATS, which the CLI cannot read: then ids are only illustrative.
 */
function offlineHmacSecret(configured: string | undefined, err: Writable): string {
  if (configured) return configured;
  err.write("note: IDENTITY_HMAC_SECRET is not set; learners missing from --identities get ids that differ from the service's\n");
  return "event-routing offline transform cli";
}

export function offlinePipeline(opts: OfflineOptions, err: Writable, env: NodeJS.ProcessEnv = process.env): PipelineDeps {
  const config = loadConfig({
    ...env,
    ...(opts.lmsRootUrl ? { LMS_ROOT_URL: opts.lmsRootUrl } : {}),
    ...(opts.transformerVersion ? { TRANSFORMER_VERSION: opts.transformerVersion } : {}),
  });
  const settings = { lmsRootUrl: config.lmsRootUrl, transformerVersion: config.transformerVersion, agentIfiType: config.agentIfiType };
  const mappings = opts.mappings === undefined ? undefined : loadMappingDir(opts.mappings, settings);
  return {
    settings,
    backends: backendSettings(config, mappings && (() => mappings)),
    directories: {
      identities: staticIdentityDirectory(
        opts.identities ? parseIdentitiesCsv(readFileSync(opts.identities, "utf8"), opts.identities) : [],
        hmacExternalIds(offlineHmacSecret(config.identityHmacSecret, err)),
      ),
      courses: staticCourseDirectory(
        new Map((opts.courses ? parseCoursesCsv(readFileSync(opts.courses, "utf8"), opts.courses) : []).map((c) => [c.courseId, c.name])),
      ),
    },
    routers: { list: () => [], get: () => undefined, subscribe: () => () => {} },
    names: natsNames(config.natsPrefix),
  };
}

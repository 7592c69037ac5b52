/**
 * `transform`: for each input file (one event, either shape), one line with the JSON array of statements the
 * service would publish (Caliper: the events, not the envelope). Filtered or skipped events print `[]` and the
 * reason on stderr. Exit 0 when every input parsed, 1 otherwise. Runs the service's own pipeline, with the
 * look-up tables from CSV files instead of NATS.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Writable } from "node:stream";
import { loadConfig } from "../config.js";
import { parseCoursesCsv, parseIdentitiesCsv } from "../directory/csv.js";
import { hmacExternalIds } from "../directory/external-id.js";
import { staticCourseDirectory, staticIdentityDirectory } from "../directory/static-directories.js";
import { backendSettings } from "../ingest/backend-settings.js";
import { transformEvent, type PipelineDeps } from "../ingest/emit-pipeline.js";
import { natsNames } from "../nats/names.js";
import { EventParseError, parseEventJson } from "../transform/edx-event.js";
import type { BackendName } from "../transform/registry.js";

/**
 * Users missing from --identities get a derived external id, as in the service. The service's key is either
 * IDENTITY_HMAC_SECRET or generated and kept in NATS, which the CLI cannot read: then ids are only illustrative.
 */
function offlineHmacSecret(configured: string | undefined, err: Writable): string {
  if (configured) return configured;
  err.write("note: IDENTITY_HMAC_SECRET is not set; learners missing from --identities get ids that differ from the service's\n");
  return "event-routing offline transform cli";
}

export async function runTransform(args: string[], out: Writable, err: Writable): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      backend: { type: "string" },
      "lms-root-url": { type: "string" },
      "transformer-version": { type: "string" },
      identities: { type: "string" },
      courses: { type: "string" },
    },
  });
  const backend = values.backend as BackendName | undefined;
  if (backend !== "xapi" && backend !== "caliper") {
    err.write("--backend must be xapi or caliper\n");
    return 2;
  }
  if (positionals.length === 0) {
    err.write("no input files (use - for stdin)\n");
    return 2;
  }
  // The same variables as the service (LMS_ROOT_URL, XAPI_AGENT_IFI_TYPE, filters...), flags win.
  const config = loadConfig({
    ...process.env,
    ...(values["lms-root-url"] ? { LMS_ROOT_URL: values["lms-root-url"] } : {}),
    ...(values["transformer-version"] ? { TRANSFORMER_VERSION: values["transformer-version"] } : {}),
  });
  const deps: PipelineDeps = {
    settings: { lmsRootUrl: config.lmsRootUrl, transformerVersion: config.transformerVersion, agentIfiType: config.agentIfiType },
    backends: backendSettings(config),
    directories: {
      identities: staticIdentityDirectory(
        values.identities ? parseIdentitiesCsv(readFileSync(values.identities, "utf8"), values.identities) : [],
        hmacExternalIds(offlineHmacSecret(config.identityHmacSecret, err)),
      ),
      courses: staticCourseDirectory(
        new Map(
          (values.courses ? parseCoursesCsv(readFileSync(values.courses, "utf8"), values.courses) : []).map((c) => [c.courseId, c.name]),
        ),
      ),
    },
    routers: { list: () => [], get: () => undefined, subscribe: () => () => {} },
    names: natsNames(config.natsPrefix),
  };

  let allParsed = true;
  for (const file of positionals) {
    const text = file === "-" ? readFileSync(0, "utf8") : readFileSync(file, "utf8");
    try {
      const event = parseEventJson(text);
      const [output] = await transformEvent(event, deps, [backend]);
      const result = output!.result;
      if (result.outcome === "transformed") out.write(`${JSON.stringify(result.statements)}\n`);
      else {
        out.write("[]\n");
        err.write(`${file}: ${result.outcome}: ${result.reason}\n`);
      }
    } catch (e) {
      if (!(e instanceof EventParseError)) throw e;
      allParsed = false;
      out.write("[]\n");
      err.write(`${file}: not parsed: ${e.field}: ${e.message}\n`);
    }
  }
  return allParsed ? 0 : 1;
}

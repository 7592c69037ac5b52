/** Builds the per-backend settings (enabled, event filter, registry) from the configuration. */
import type { Config } from "../config.js";
import { compileRegexFilter, type EventFilter } from "../transform/backend-filter.js";
import { createCaliperRegistry } from "../transform/caliper/index.js";
import type { BackendSettings } from "../transform/transform-event.js";
import { createXapiRegistry } from "../transform/xapi/index.js";

type FilterConfig = Pick<
  Config,
  | "xapiEnabled"
  | "caliperEnabled"
  | "xapiEvents"
  | "xapiEventsRegex"
  | "xapiEventsRegexMode"
  | "caliperEvents"
  | "caliperEventsRegex"
  | "caliperEventsRegexMode"
>;

function eventFilter(
  names: readonly string[] | undefined,
  regex: readonly string[] | undefined,
  mode: "allowlist" | "blocklist",
): EventFilter {
  if (regex && regex.length > 0) return compileRegexFilter(mode, regex);
  if (names && names.length > 0) return { kind: "names", names: new Set(names) };
  return { kind: "all" };
}

export function backendSettings(config: FilterConfig): BackendSettings[] {
  return [
    {
      backend: "xapi",
      enabled: config.xapiEnabled,
      filter: eventFilter(config.xapiEvents, config.xapiEventsRegex, config.xapiEventsRegexMode),
      registry: createXapiRegistry(),
    },
    {
      backend: "caliper",
      enabled: config.caliperEnabled,
      filter: eventFilter(config.caliperEvents, config.caliperEventsRegex, config.caliperEventsRegexMode),
      registry: createCaliperRegistry(),
    },
  ];
}

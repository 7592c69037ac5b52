/**
 * Builds the per-backend settings (enabled, event filter, registry) from the configuration. With `mappings` (the
 * mapping store's current set) the registry is the view with custom mappings in front of the built-ins
 * (transform/custom/mapping-set.ts); without, the built-in registry alone (the offline CLI without --mappings).
 */
import type { Config } from "../config.js";
import { compileRegexFilter, type EventFilter } from "../transform/backend-filter.js";
import { createCaliperRegistry } from "../transform/caliper/index.js";
import type { BackendSettings } from "../transform/transform-event.js";
import { createXapiRegistry } from "../transform/xapi/index.js";
import { type MappingSet, withMappings } from "../transform/custom/mapping-set.js";
import type { BackendName, TransformerLookup } from "../transform/registry.js";

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

export function backendSettings(config: FilterConfig, mappings?: () => MappingSet): BackendSettings[] {
  const view = (backend: BackendName, builtin: TransformerLookup) => (mappings ? withMappings(backend, builtin, mappings) : builtin);
  return [
    {
      backend: "xapi",
      enabled: config.xapiEnabled,
      filter: eventFilter(config.xapiEvents, config.xapiEventsRegex, config.xapiEventsRegexMode),
      registry: view("xapi", createXapiRegistry()),
    },
    {
      backend: "caliper",
      enabled: config.caliperEnabled,
      filter: eventFilter(config.caliperEvents, config.caliperEventsRegex, config.caliperEventsRegexMode),
      registry: view("caliper", createCaliperRegistry()),
    },
  ];
}

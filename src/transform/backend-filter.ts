/**
 * Which event names a backend accepts (event-tracking's NameWhitelistProcessor and RegexFilter). The default
 * accepts every name that has a transformer. Event names are caller-controlled, so the regexes run on the
 * linear-time engine (see src/linear-regex.ts).
 */
import { compileLinearPrefix, type LinearRegex } from "../linear-regex.js";

export type EventFilter =
  | { readonly kind: "all" }
  | { readonly kind: "names"; readonly names: ReadonlySet<string> }
  | { readonly kind: "regex"; readonly mode: "allowlist" | "blocklist"; readonly patterns: readonly LinearRegex[] };

/**
 * Compiles RegexFilter expressions once. Python's `re.match` anchors at the start only, so each pattern is
 * anchored at the start and nothing is added at the end. Throws RegexSyntaxError for a pattern RE2 rejects
 * (config.ts checks the variables with the same function, so start-up names the variable).
 */
export function compileRegexFilter(mode: "allowlist" | "blocklist", sources: readonly string[]): EventFilter {
  return { kind: "regex", mode, patterns: sources.map(compileLinearPrefix) };
}

export function filterAccepts(filter: EventFilter, eventName: string): boolean {
  switch (filter.kind) {
    case "all":
      return true;
    case "names":
      return filter.names.has(eventName);
    case "regex": {
      const hit = filter.patterns.some((re) => re.test(eventName));
      return filter.mode === "allowlist" ? hit : !hit;
    }
  }
}

/**
 * Which event names a backend accepts (event-tracking's NameWhitelistProcessor and RegexFilter). The default
 * accepts every name that has a transformer.
 */
export type EventFilter =
  | { readonly kind: "all" }
  | { readonly kind: "names"; readonly names: ReadonlySet<string> }
  | { readonly kind: "regex"; readonly mode: "allowlist" | "blocklist"; readonly patterns: readonly RegExp[] };

/**
 * Compiles RegexFilter expressions once. Python's `re.match` anchors at the start only, so each pattern is
 * wrapped in `^(?:...)` and nothing is added at the end.
 */
export function compileRegexFilter(mode: "allowlist" | "blocklist", sources: readonly string[]): EventFilter {
  return { kind: "regex", mode, patterns: sources.map((s) => new RegExp(`^(?:${s})`)) };
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

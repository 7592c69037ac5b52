/**
 * Credentials written into a URL (`redis://:password@host`, `nats://user:pass@host`) must never reach a log, an
 * error or the banner. This is the one place that removes them from a URL before it is shown.
 *
 * The text is cut, not parsed: the URLs shown are often the ones that failed to parse (a typo is why they are
 * being shown), and a password may hold an unescaped `@` or `/`. So everything from the scheme (or the start)
 * to the last `@` is treated as user info. A `@` later in the URL (a query) only hides more than needed.
 */
const HIDDEN = "***";

/** The URL with any user info replaced by `***`; comma-separated lists (a NATS cluster) are handled entry by entry. */
export function withoutUserinfo(url: string): string {
  return url
    .split(",")
    .map((entry) => {
      const scheme = entry.indexOf("://");
      const start = scheme >= 0 ? scheme + 3 : 0;
      const at = entry.lastIndexOf("@");
      return at >= start ? `${entry.slice(0, start)}${HIDDEN}${entry.slice(at)}` : entry;
    })
    .join(",");
}

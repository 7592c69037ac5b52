/**
 * The one regex engine for patterns that come from configuration or admins and run against caller-controlled text
 * (router match_params, XAPI/CALIPER_EVENTS_REGEX). JavaScript's RegExp backtracks: `^(a+)+$` against 32 `a`s and a
 * `!` blocks the event loop for seconds, and a learner chooses their own username. RE2 semantics (here re2js, a
 * pure-JS port of RE2/Go regexp: no native build, no binary download, MIT) match in time linear in the input, at
 * the price of rejecting the two features that need backtracking: backreferences and lookaround. Such patterns
 * fail at compile time with a message saying so, so the caller can name the field or variable.
 *
 * Chosen over `re2` (native: its install fetches prebuilt binaries, which this project's machines cannot) and
 * `re2-wasm` (unmaintained since 2021, Unicode-mode only); over a safe-regex heuristic because those miss
 * polynomial cases and still leave backtracking in place.
 */
import { RE2JS } from "re2js";

export interface LinearRegex {
  readonly source: string;
  /** Unanchored search, like Python's re.search and RegExp.prototype.test. */
  test(input: string): boolean;
}

export class RegexSyntaxError extends Error {
  override name = "RegexSyntaxError";
}

/** Compiles once; throws RegexSyntaxError naming what RE2 cannot do. */
export function compileLinear(source: string): LinearRegex {
  try {
    const re = RE2JS.compile(source);
    return { source, test: (input) => re.test(input) };
  } catch (e) {
    const detail = (e as Error).message.replace(/^error parsing regexp: /, "");
    throw new RegexSyntaxError(`invalid regex ${JSON.stringify(source)}: ${detail} (RE2 syntax: no backreferences or lookaround)`);
  }
}

/**
 * Anchored at the start only, like Python's re.match. The source is compiled on its own first, so a source such
 * as `a)|(b` cannot escape the `^(?:...)` wrapper.
 */
export function compileLinearPrefix(source: string): LinearRegex {
  compileLinear(source);
  const re = compileLinear(`^(?:${source})`);
  return { source, test: re.test };
}

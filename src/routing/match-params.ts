/**
 * ERB's match_params (ADR 0007): dotted exact paths into the original event, AND across keys, OR within a list,
 * each pattern an unanchored regex (re.search). A missing or non-string value never matches; an empty pattern
 * list never matches; no match params accepts everything. Patterns are compiled once per router version.
 *
 * The values are caller-controlled (a username is chosen by the learner), so patterns run on a linear-time engine
 * (linear-regex.ts; patterns with backreferences or lookaround are rejected when the router is written), and a
 * value longer than MATCH_VALUE_MAX_CHARS never matches: linear is still proportional to the input, and a 4 MiB
 * field tested against every pattern of every router would cost seconds. Real routing fields (org, course id,
 * username, enterprise uuid) are far shorter.
 */
import type { EdxEvent } from "../transform/edx-event.js";
import { atPath } from "../transform/field-access.js";
import { compileLinear, RegexSyntaxError, type LinearRegex } from "../linear-regex.js";
import type { MatchParam } from "./router-model.js";

export const MATCH_VALUE_MAX_CHARS = 8192;

export interface CompiledMatch {
  readonly path: string;
  readonly patterns: readonly LinearRegex[];
}

export class MatchParamError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = "MatchParamError";
  }
}

const PATH_RE = /^[^.\s]+(\.[^.\s]+)*$/;

/** One match_params pattern, as routing runs it; throws RegexSyntaxError (for validation to name the field). */
export function compilePattern(source: string): LinearRegex {
  return compileLinear(source);
}

/** Compiles and validates; throws MatchParamError naming the offending entry. */
export function compileMatchParams(params: readonly MatchParam[]): CompiledMatch[] {
  return params.map((p, i) => {
    if (!PATH_RE.test(p.path)) throw new MatchParamError(`match_params[${i}].path`, `invalid dotted path ${JSON.stringify(p.path)}`);
    return {
      path: p.path,
      patterns: p.patterns.map((src, j) => {
        try {
          return compilePattern(src);
        } catch (e) {
          if (e instanceof RegexSyntaxError) throw new MatchParamError(`match_params[${i}].patterns[${j}]`, e.message);
          throw e;
        }
      }),
    };
  });
}

export function matchesEvent(compiled: readonly CompiledMatch[], event: EdxEvent): boolean {
  for (const m of compiled) {
    const value = atPath(event.body, m.path);
    if (typeof value !== "string" || value.length > MATCH_VALUE_MAX_CHARS) return false;
    if (!m.patterns.some((re) => re.test(value))) return false;
  }
  return true;
}

/**
 * Compiled patterns per router version. Router configs are immutable and replaced on every change, so keying on
 * the object compiles each version's regexes exactly once and frees them with the old version.
 */
const compiledByRouter = new WeakMap<object, CompiledMatch[]>();

export function compiledMatchFor(router: { readonly matchParams: readonly MatchParam[] }): CompiledMatch[] {
  let compiled = compiledByRouter.get(router);
  if (compiled === undefined) {
    compiled = compileMatchParams(router.matchParams);
    compiledByRouter.set(router, compiled);
  }
  return compiled;
}

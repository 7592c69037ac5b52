/**
 * Rules across variables. An "env" rule reads the raw environment (is a variable set?) and always runs. A "parsed"
 * rule compares typed values and runs only while nothing before it failed: its inputs are then valid, and a second
 * complaint would mostly be a consequence of the first. Each returns its problems as messages naming the variables.
 */
export type Env = Readonly<Record<string, string | undefined>>;

export type Rule<C> =
  | { readonly on: "env"; readonly check: (env: Env) => string[] }
  | { readonly on: "parsed"; readonly check: (config: C) => string[] };

export const isSet = (env: Env, name: string): boolean => (env[name] ?? "") !== "";

/** `a` is set but `b` is not. */
export function needs(a: string, b: string, why: string): Rule<unknown> {
  return { on: "env", check: (env) => (isSet(env, a) && !isSet(env, b) ? [`${a} is set but ${b} is not: ${why}`] : []) };
}

/** A typed comparison: `message` when `broken` holds. */
export function parsedRule<C>(broken: (c: C) => boolean, message: string): Rule<C> {
  return { on: "parsed", check: (c) => (broken(c) ? [message] : []) };
}

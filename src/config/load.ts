/**
 * Parsing a table of variables and its rules from the environment: every bad variable is named (not only the
 * first), each with the accepted form and what the variable is for, and its value shown only as VarSpec.secret allows.
 */
import type { Env, Rule } from "./rules.js";
import { type Parsed, shown, type VarSpec } from "./var-spec.js";

export class ConfigError extends Error {
  override name = "ConfigError";
}

function rawDefault(spec: VarSpec<unknown>): string | undefined {
  return spec.defaultText.startsWith("(") ? undefined : spec.defaultText;
}

/** Parses `vars` from `env`, then checks `rules` in order; throws ConfigError listing every problem. */
export function parseEnv<V extends Record<string, VarSpec<unknown>>>(vars: V, rules: ReadonlyArray<Rule<Parsed<V>>>, env: Env): Parsed<V> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, spec] of Object.entries(vars)) {
    const raw = env[spec.name];
    const value = raw === undefined || raw === "" ? rawDefault(spec) : raw;
    const parsed = spec.schema.safeParse(value);
    if (parsed.success) out[key] = parsed.data;
    else problems.push(`${shown(spec, raw)}: ${parsed.error.issues[0]?.message ?? "invalid"} (${spec.description})`);
  }
  const config = out as Parsed<V>;
  for (const rule of rules) {
    if (rule.on === "env") problems.push(...rule.check(env));
    else if (problems.length === 0) problems.push(...rule.check(config));
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  return config;
}

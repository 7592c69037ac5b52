/**
 * Service configuration: environment variables parsed once at start-up into a typed object. A bad value stops
 * start-up with a message naming the variable and the accepted form; `--help` prints the table, and the README's
 * configuration table lists it in the same order. Each area keeps its variables and cross-field rules in
 * src/config/; this module only puts them together.
 */
import { CALL_VARS, LISTENER_VARS, SERVER_RULES } from "./config/server.js";
import { DELIVERY_RULES, DELIVERY_VARS, STREAM_VARS } from "./config/delivery.js";
import { helpText } from "./config/help.js";
import { INGEST_VARS } from "./config/ingest.js";
import { parseEnv } from "./config/load.js";
import { NATS_RULES, NATS_VARS } from "./config/nats.js";
import { OBSERVABILITY_RULES, OBSERVABILITY_VARS } from "./config/observability.js";
import type { Env, Rule } from "./config/rules.js";
import { SHUTDOWN_VARS } from "./config/shutdown.js";
import { STATEMENT_LOG_VARS } from "./config/statement-log.js";
import { TRANSFORM_VARS } from "./config/transform.js";
import type { Parsed } from "./config/var-spec.js";

export { DEFAULT_CRITICAL_EVENTS } from "./config/delivery.js";
export { ConfigError } from "./config/load.js";

/** Every variable the service reads, in --help (and README table) order. */
export const CONFIG_VARS = {
  ...LISTENER_VARS,
  ...NATS_VARS,
  ...STREAM_VARS,
  ...TRANSFORM_VARS,
  ...CALL_VARS,
  ...SHUTDOWN_VARS,
  ...OBSERVABILITY_VARS,
  ...DELIVERY_VARS,
  ...INGEST_VARS,
  ...STATEMENT_LOG_VARS,
} as const;

export type Config = Parsed<typeof CONFIG_VARS>;

/**
 * The cross-field rules, in the order they are checked: a rule on parsed values runs only while nothing before it
 * failed (src/config/rules.ts), so this order decides which of several problems are reported together.
 */
const RULES: ReadonlyArray<Rule<Config>> = [...DELIVERY_RULES, ...SERVER_RULES, ...NATS_RULES, ...OBSERVABILITY_RULES];

/** Parses the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  return parseEnv(CONFIG_VARS, RULES, env);
}

/** The --help text: every variable with its default. */
export function configHelp(): string {
  return helpText(CONFIG_VARS);
}

/**
 * The check a mapping passes before it is stored (Create/Update), loaded from a file (replay --offline) or tried
 * (TestMapping): compile it, run it on each sample event through the same transformForBackend step the emit path
 * uses, and validate every statement (statement-checks.ts). The first problem refuses the mapping, named as the
 * admin RPC reports it: "samples[1]: statement 0: verb.id: must be ...".
 *
 * Samples run with a stand-in learner (SAMPLE_LEARNER) and no course name: registration has no identity to look
 * up, and the actor is built by the built-in helpers whatever the mapping says, so only its shape matters here.
 */
import { EventParseError, eventFromObject, type EdxEvent, type JsonObject } from "../edx-event.js";
import type { TransformEnv, TransformSettings } from "../transform-env.js";
import { transformForBackend, type BackendTransformResult } from "../transform-event.js";
import { compileMapping, mappingHandles, type CompiledMapping } from "./compile-mapping.js";
import type { MappingSpec } from "./mapping-format.js";
import type { StatementChecks } from "./statement-checks.js";
import { MappingError } from "./template.js";

export const SAMPLE_LEARNER = { externalId: "5d5a8a0e-0000-4000-8000-000000000001", email: "sample.learner@example.org" } as const;

export function sampleEnv(settings: TransformSettings): TransformEnv {
  return { ...settings, user: SAMPLE_LEARNER };
}

/** One event through one compiled mapping, as transformForBackend runs a transformer (filter off, enabled). */
export function runCompiled(mapping: CompiledMapping, event: EdxEvent, env: TransformEnv): BackendTransformResult {
  const only = { get: () => mapping.transformer, has: () => true };
  return transformForBackend({ backend: mapping.spec.backend, enabled: true, filter: { kind: "all" }, registry: only }, event, env);
}

/** Problems of each statement, "statement <i>: <path>: <what>". */
export function statementProblems(checks: StatementChecks, backend: MappingSpec["backend"], statements: readonly JsonObject[]): string[] {
  return statements.flatMap((s, i) => checks[backend](s).map((p) => `statement ${i}: ${p}`));
}

/** What each sample produced: the statements to validate. */
export interface SampleOutput {
  readonly index: number;
  readonly statements: readonly JsonObject[];
}

function runSample(mapping: CompiledMapping, sample: JsonObject, i: number, env: TransformEnv): SampleOutput {
  const field = `samples[${i}]`;
  let event: EdxEvent;
  try {
    event = eventFromObject(sample);
  } catch (e) {
    if (e instanceof EventParseError) throw new MappingError(`${field}.${e.field}`, e.message);
    throw e;
  }
  if (!mappingHandles(mapping, event.name)) {
    throw new MappingError(`${field}.name`, `"${event.name}" is not one of the mapping's events (event_names, event_pattern)`);
  }
  const result = runCompiled(mapping, event, env);
  if (result.outcome !== "transformed") throw new MappingError(field, `no statements: ${result.reason}`);
  return { index: i, statements: result.statements };
}

/**
 * The part of the check that needs no validator: compile, then run every sample (each must give statements).
 * Throws MappingError naming the field. The statements are validated after, by `refuseProblems`.
 */
export function runSamples(spec: MappingSpec, settings: TransformSettings): { compiled: CompiledMapping; outputs: SampleOutput[] } {
  const compiled = compileMapping(spec);
  if (spec.samples.length === 0) throw new MappingError("samples", "at least one sample event is required");
  const env = sampleEnv(settings);
  return { compiled, outputs: spec.samples.map((sample, i) => runSample(compiled, sample, i, env)) };
}

/** The first sample whose statements have problems refuses the mapping ("samples[1]: statement 0: verb.id: ..."). */
export function refuseProblems(outputs: readonly SampleOutput[], problems: readonly (readonly string[])[]): void {
  outputs.forEach((o, i) => {
    const found = problems[i] ?? [];
    if (found.length > 0) throw new MappingError(`samples[${o.index}]`, found.join("; "));
  });
}

/** Compiles the mapping, runs it on every sample and validates the statements here; throws MappingError. */
export function checkMapping(spec: MappingSpec, settings: TransformSettings, checks: StatementChecks): CompiledMapping {
  const { compiled, outputs } = runSamples(spec, settings);
  refuseProblems(
    outputs,
    outputs.map((o) => statementProblems(checks, spec.backend, o.statements)),
  );
  return compiled;
}

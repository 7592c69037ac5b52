/**
 * Evaluates a parsed expression against one event. Every step is paid for from one budget per event and mapping
 * (MAPPING_LIMITS.workUnits): a path step costs 1, a call 1 plus what its function reads and writes, and a value
 * taken from the event whole costs its size, measured with a walk that stops at the entry and depth caps. So the
 * time one event can take is bounded by the budget whatever the mapping and the event; reaching a limit skips the
 * event (TransformSkip "limit_exceeded") with the limit named, as reaching any other rule does.
 *
 * Missing is `undefined`: a path that finds nothing or null, a function given a missing argument (most return
 * missing then; `default`, `exists`, `if` and `??` are how a mapping deals with it).
 */
import { isJsonObject, type EdxEvent, type JsonValue } from "../edx-event.js";
import type { BackendName } from "../registry.js";
import type { TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";
import type { CallExpr, Expr } from "./expression.js";
import { MAPPING_LIMITS } from "./mapping-format.js";

export type Value = JsonValue | undefined;

/** What an expression may read: the event, the resolved look-ups and settings, and nothing else. */
export interface EvalContext {
  readonly event: EdxEvent;
  readonly env: TransformEnv;
  readonly backend: BackendName;
  readonly budget: EvalBudget;
}

export function limitExceeded(detail: string): TransformSkip {
  return new TransformSkip("limit_exceeded", `mapping limit reached: ${detail}`);
}

export class EvalBudget {
  #left: number;
  constructor(units: number = MAPPING_LIMITS.workUnits) {
    this.#left = units;
  }

  spend(units: number): void {
    this.#left -= units;
    if (this.#left < 0) throw limitExceeded(`more than ${MAPPING_LIMITS.workUnits} work units for one event`);
  }
}

/** A function of the fixed set: its arguments are evaluated first unless it is `lazy` (if, and, or, default). */
export interface MappingFunction {
  readonly minArgs: number;
  readonly maxArgs: number;
  /** The argument position of an RE2 pattern: it must be a literal, compiled once when the mapping is compiled. */
  readonly regexArg?: number;
  readonly call: (args: readonly Value[], ctx: EvalContext, node: CallExpr) => Value;
  /** Receives the unevaluated arguments (short-circuit). */
  readonly lazy?: (args: readonly Expr[], ctx: EvalContext) => Value;
}

export type FunctionTable = Readonly<Record<string, MappingFunction>>;

/**
 * Size of a value taken from the event: entries counted, depth checked, both capped (the walk stops at the first
 * cap, so measuring a huge value costs no more than the cap). Strings are capped by length.
 */
export function chargeValue(value: Value, ctx: EvalContext, where: string): Value {
  if (value === undefined || value === null) return undefined;
  let entries = 0;
  const stack: { v: JsonValue; depth: number }[] = [{ v: value, depth: 1 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (typeof v === "string") {
      if (v.length > MAPPING_LIMITS.maxStringLength) {
        throw limitExceeded(`${where}: a text longer than ${MAPPING_LIMITS.maxStringLength} characters`);
      }
      ctx.budget.spend(1 + (v.length >> 6));
      continue;
    }
    if (typeof v !== "object" || v === null) continue;
    if (depth > MAPPING_LIMITS.maxValueDepth) throw limitExceeded(`${where}: nested deeper than ${MAPPING_LIMITS.maxValueDepth} levels`);
    const children = Array.isArray(v) ? v : Object.values(v);
    entries += children.length;
    if (entries > MAPPING_LIMITS.maxEntries) throw limitExceeded(`${where}: more than ${MAPPING_LIMITS.maxEntries} entries`);
    ctx.budget.spend(1 + children.length);
    for (const c of children) stack.push({ v: c, depth: depth + 1 });
  }
  return value;
}

function variable(name: string, ctx: EvalContext): Value {
  switch (name) {
    case "$name":
      return ctx.event.name;
    case "$timestamp":
      return ctx.event.rawTimestamp;
    case "$lms":
      return ctx.env.lmsRootUrl;
    case "$course_name":
      return ctx.env.courseName;
    default:
      return undefined;
  }
}

/** An own entry only: `constructor` or `__proto__` must not reach JavaScript's prototype objects. */
export function member(value: Value, step: string | number): Value {
  if (typeof step === "number") return Array.isArray(value) ? value[step] : undefined;
  return isJsonObject(value) && Object.hasOwn(value, step) ? value[step] : undefined;
}

function walkPath(expr: Extract<Expr, { kind: "path" }>, ctx: EvalContext): Value {
  let cur: Value = expr.root.startsWith("$") ? variable(expr.root, ctx) : member(ctx.event.body, expr.root);
  for (const step of expr.steps) {
    ctx.budget.spend(1);
    cur = member(cur, step);
    if (cur === undefined || cur === null) return undefined;
  }
  return chargeValue(cur, ctx, expr.source);
}

export function evaluate(expr: Expr, ctx: EvalContext, functions: FunctionTable): Value {
  ctx.budget.spend(1);
  switch (expr.kind) {
    case "literal":
      return expr.value === null ? undefined : expr.value;
    case "path":
      return walkPath(expr, ctx);
    case "coalesce":
      for (const option of expr.options) {
        const v = evaluate(option, ctx, functions);
        if (v !== undefined) return v;
      }
      return undefined;
    case "call": {
      // Names were checked at compile time (compileExpression), so the entry exists.
      const fn = functions[expr.name]!;
      if (fn.lazy) return fn.lazy(expr.args, ctx);
      const args = expr.args.map((a) => evaluate(a, ctx, functions));
      return fn.call(args, ctx, expr);
    }
  }
}

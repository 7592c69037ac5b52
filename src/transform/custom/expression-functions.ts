/**
 * The fixed set of functions a mapping expression may call. Each one is a plain synchronous function of JSON
 * values: none loops over anything but its own arguments, none calls back into an expression (the lazy ones only
 * choose which argument to evaluate), and each pays for what it reads and writes from the event's budget and caps
 * what it builds (evaluate.ts). The shared rules come from the built-in transformers' helpers: IRIs
 * (transform-env.ts), ERB's get_data search and payload look-up (field-access.ts), durations and timestamps as the
 * built-ins of the same backend write them (time-format.ts).
 */
import { isJsonObject, type JsonValue } from "../edx-event.js";
import { pyStr } from "../field-access.js";
import { caliperEventTime, isodateDuration, tincanDuration, xapiTimestamp } from "../time-format.js";
import { courseIri, lmsIri, xblockIri } from "../transform-env.js";
import {
  chargeValue,
  evaluate,
  limitExceeded,
  member,
  type EvalContext,
  type FunctionTable,
  type MappingFunction,
  type Value,
} from "./evaluate.js";
import { MAPPING_LIMITS } from "./mapping-format.js";

/** ERB's get_data rule: null, "", false, [] and {} count as missing. */
export function isBlank(v: Value): boolean {
  if (v === undefined || v === null || v === "" || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isJsonObject(v)) return Object.keys(v).length === 0;
  return false;
}

function text(v: Value): string | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === "string" ? v : pyStr(v);
}

function num(v: Value): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? v : undefined;
  if (typeof v === "string" && v.trim() !== "") {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** A text built by a function: paid for by its length and refused above the cap. */
function built(s: string, ctx: EvalContext, fn: string): string {
  if (s.length > MAPPING_LIMITS.maxStringLength) {
    throw limitExceeded(`${fn}() would build a text longer than ${MAPPING_LIMITS.maxStringLength} characters`);
  }
  ctx.budget.spend(1 + (s.length >> 6));
  return s;
}

function strings(arity: [number, number], f: (args: string[], ctx: EvalContext) => Value): MappingFunction {
  return {
    minArgs: arity[0],
    maxArgs: arity[1],
    call: (args, ctx) => {
      const texts = args.map(text);
      if (texts.some((t) => t === undefined)) return undefined;
      return f(texts as string[], ctx);
    },
  };
}

function numbers(arity: [number, number], f: (args: number[]) => number | undefined): MappingFunction {
  return {
    minArgs: arity[0],
    maxArgs: arity[1],
    call: (args) => {
      const ns = args.map(num);
      if (ns.some((n) => n === undefined)) return undefined;
      const out = f(ns as number[]);
      return out !== undefined && Number.isFinite(out) ? out : undefined;
    },
  };
}

/** ERB's find_nested: own keys first, then nested objects in order, lists not searched; each key visited costs 1. */
function findNested(root: JsonValue, key: string, ctx: EvalContext): Value {
  const stack: JsonValue[] = [root];
  while (stack.length > 0) {
    const obj = stack.pop()!;
    if (!isJsonObject(obj)) continue;
    const keys = Object.keys(obj);
    ctx.budget.spend(1 + keys.length);
    const own = member(obj, key);
    if (own !== undefined && own !== null) return chargeValue(own, ctx, `find("${key}")`);
    // Depth-first, as ERB recurses: pushed last-first, so the first nested object is searched next, before the
    // later siblings of this one.
    for (let i = keys.length - 1; i >= 0; i--) {
      const child = obj[keys[i]!]!;
      if (isJsonObject(child)) stack.push(child);
    }
  }
  return undefined;
}

const iriFunctions: FunctionTable = {
  lms_iri: strings([1, 1], ([p], ctx) => built(lmsIri(ctx.env, p!), ctx, "lms_iri")),
  course_iri: strings([1, 1], ([id], ctx) => built(courseIri(ctx.env, id!), ctx, "course_iri")),
  xblock_iri: strings([1, 1], ([key], ctx) => built(xblockIri(ctx.env, key!), ctx, "xblock_iri")),
};

const lookupFunctions: FunctionTable = {
  find: strings([1, 1], ([key], ctx) => {
    const v = findNested(ctx.event.body, key!, ctx);
    return isBlank(v) ? undefined : v;
  }),
  payload: strings([1, 1], ([key], ctx) => {
    const steps = key!.split(".");
    for (const root of ["data", "event"]) {
      let cur: Value = member(ctx.event.body, root);
      for (const step of steps) cur = member(cur, step);
      ctx.budget.spend(steps.length);
      if (!isBlank(cur)) return chargeValue(cur, ctx, `payload("${key}")`);
    }
    return undefined;
  }),
};

const timeFunctions: FunctionTable = {
  duration: {
    minArgs: 1,
    maxArgs: 1,
    call: ([seconds], ctx) => {
      const s = num(seconds);
      if (s === undefined) return undefined;
      return ctx.backend === "xapi" ? tincanDuration(s) : isodateDuration(s);
    },
  },
  timestamp: strings([1, 1], ([raw], ctx) => (ctx.backend === "xapi" ? xapiTimestamp(raw!) : caliperEventTime(raw!))),
};

const textFunctions: FunctionTable = {
  concat: strings([1, 32], (parts, ctx) => built(parts.join(""), ctx, "concat")),
  lower: strings([1, 1], ([s], ctx) => built(s!.toLowerCase(), ctx, "lower")),
  upper: strings([1, 1], ([s], ctx) => built(s!.toUpperCase(), ctx, "upper")),
  trim: strings([1, 1], ([s]) => s!.trim()),
  string: strings([1, 1], ([s]) => s),
  replace: strings([3, 3], ([s, find, by], ctx) => (find === "" ? s : built(s!.split(find!).join(by), ctx, "replace"))),
  substring: {
    minArgs: 2,
    maxArgs: 3,
    call: ([s, start, length]) => {
      const t = text(s);
      const from = num(start);
      if (t === undefined || from === undefined) return undefined;
      const len = length === undefined ? undefined : num(length);
      return [...t].slice(from, len === undefined ? undefined : from + len).join("");
    },
  },
  split: strings([2, 2], ([s, sep], ctx) => {
    const parts = sep === "" ? [s!] : s!.split(sep!, MAPPING_LIMITS.maxEntries + 1);
    if (parts.length > MAPPING_LIMITS.maxEntries) throw limitExceeded(`split() would build more than ${MAPPING_LIMITS.maxEntries} entries`);
    ctx.budget.spend(parts.length);
    return parts;
  }),
  join: {
    minArgs: 2,
    maxArgs: 2,
    call: ([list, sep], ctx) => {
      const s = text(sep);
      if (!Array.isArray(list) || s === undefined) return undefined;
      return built(list.map((v) => text(v) ?? "").join(s), ctx, "join");
    },
  },
  json: { minArgs: 1, maxArgs: 1, call: ([v], ctx) => (v === undefined ? undefined : built(JSON.stringify(v), ctx, "json")) },
  matches: {
    minArgs: 2,
    maxArgs: 2,
    regexArg: 1,
    call: ([s], ctx, node) => {
      const t = text(s);
      if (t === undefined) return undefined;
      ctx.budget.spend(1 + (t.length >> 4));
      return node.regex!.test(t);
    },
  },
};

const numberFunctions: FunctionTable = {
  number: numbers([1, 1], ([n]) => n),
  add: numbers([2, 2], ([a, b]) => a! + b!),
  sub: numbers([2, 2], ([a, b]) => a! - b!),
  mul: numbers([2, 2], ([a, b]) => a! * b!),
  div: numbers([2, 2], ([a, b]) => (b === 0 ? undefined : a! / b!)),
  min: numbers([1, 32], (ns) => Math.min(...ns)),
  max: numbers([1, 32], (ns) => Math.max(...ns)),
  round: numbers([1, 2], ([n, digits]) => {
    const d = Math.min(Math.max(Math.trunc(digits ?? 0), 0), 12);
    return Math.round(n! * 10 ** d) / 10 ** d;
  }),
};

const logicFunctions: FunctionTable = {
  if: {
    minArgs: 2,
    maxArgs: 3,
    call: () => undefined,
    lazy: ([cond, then, otherwise], ctx) => {
      const chosen = isBlank(evaluate(cond!, ctx, MAPPING_FUNCTIONS)) ? otherwise : then;
      return chosen === undefined ? undefined : evaluate(chosen, ctx, MAPPING_FUNCTIONS);
    },
  },
  and: {
    minArgs: 2,
    maxArgs: 16,
    call: () => undefined,
    lazy: (args, ctx) => args.every((a) => !isBlank(evaluate(a, ctx, MAPPING_FUNCTIONS))),
  },
  or: {
    minArgs: 2,
    maxArgs: 16,
    call: () => undefined,
    lazy: (args, ctx) => args.some((a) => !isBlank(evaluate(a, ctx, MAPPING_FUNCTIONS))),
  },
  not: { minArgs: 1, maxArgs: 1, call: ([v]) => isBlank(v) },
  exists: { minArgs: 1, maxArgs: 1, call: ([v]) => !isBlank(v) },
  eq: {
    minArgs: 2,
    maxArgs: 2,
    call: ([a, b], ctx) => {
      if (typeof a === "object" || typeof b === "object") {
        ctx.budget.spend(1 + ((JSON.stringify(a ?? null).length + JSON.stringify(b ?? null).length) >> 6));
        return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
      }
      return a === b;
    },
  },
  default: { minArgs: 2, maxArgs: 2, call: ([v, fallback]) => (isBlank(v) ? fallback : v) },
};

const collectionFunctions: FunctionTable = {
  count: {
    minArgs: 1,
    maxArgs: 1,
    call: ([v]) => (Array.isArray(v) ? v.length : isJsonObject(v) ? Object.keys(v).length : typeof v === "string" ? v.length : undefined),
  },
  first: { minArgs: 1, maxArgs: 1, call: ([v]) => (Array.isArray(v) ? v[0] : undefined) },
  last: { minArgs: 1, maxArgs: 1, call: ([v]) => (Array.isArray(v) ? v[v.length - 1] : undefined) },
  at: {
    minArgs: 2,
    maxArgs: 2,
    call: ([v, i]) => {
      const n = num(i);
      return Array.isArray(v) && n !== undefined && Number.isInteger(n) ? v.at(n) : undefined;
    },
  },
  get: {
    minArgs: 2,
    maxArgs: 2,
    call: ([v, key]) => {
      const k = text(key);
      return k === undefined ? undefined : member(v, k);
    },
  },
};

/** Every function a mapping can call, by name. */
export const MAPPING_FUNCTIONS: FunctionTable = {
  ...iriFunctions,
  ...lookupFunctions,
  ...timeFunctions,
  ...textFunctions,
  ...numberFunctions,
  ...logicFunctions,
  ...collectionFunctions,
};

/**
 * Statement templates: a JSON value whose strings may hold `${expression}` parts (the rules are in
 * mapping-format.ts). Compiled once per mapping, checked against the function table (names, argument counts, RE2
 * patterns compiled here), then rendered per event. Rendering leaves out what is missing: a key whose value is
 * missing, a text with a missing part, a list entry, and an object or list whose every entry is missing.
 */
import { compileLinear, RegexSyntaxError } from "../../linear-regex.js";
import { isJsonObject, type JsonObject, type JsonValue } from "../edx-event.js";
import { evaluate, limitExceeded, type EvalContext, type Value } from "./evaluate.js";
import { MAPPING_FUNCTIONS } from "./expression-functions.js";
import { ExpressionError, parseExpression, type Expr } from "./expression.js";
import { MAPPING_LIMITS } from "./mapping-format.js";

/** A refused mapping part; `field` is its path in the mapping, e.g. "statements[0].object.id". */
export class MappingError extends Error {
  override name = "MappingError";
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}

export type TemplateNode =
  | { readonly kind: "const"; readonly value: JsonValue }
  | { readonly kind: "expr"; readonly expr: Expr }
  | { readonly kind: "text"; readonly parts: readonly (string | Expr)[] }
  | { readonly kind: "object"; readonly entries: readonly (readonly [string, TemplateNode])[] }
  | { readonly kind: "list"; readonly items: readonly TemplateNode[] };

/** Checks a parsed expression against the function table and compiles its RE2 patterns; returns the new tree. */
function checkExpression(expr: Expr, field: string): Expr {
  switch (expr.kind) {
    case "literal":
      return expr;
    case "path":
      if (expr.root.startsWith("$") && !["$name", "$timestamp", "$lms", "$course_name"].includes(expr.root)) {
        throw new MappingError(field, `unknown variable ${expr.root} (known: $name, $timestamp, $lms, $course_name)`);
      }
      return expr;
    case "coalesce":
      return { kind: "coalesce", options: expr.options.map((o) => checkExpression(o, field)) };
    case "call": {
      const fn = Object.hasOwn(MAPPING_FUNCTIONS, expr.name) ? MAPPING_FUNCTIONS[expr.name] : undefined;
      if (!fn) throw new MappingError(field, `unknown function ${expr.name}()`);
      const n = expr.args.length;
      if (n < fn.minArgs || n > fn.maxArgs) {
        const want = fn.minArgs === fn.maxArgs ? `${fn.minArgs}` : `${fn.minArgs} to ${fn.maxArgs}`;
        throw new MappingError(field, `${expr.name}() takes ${want} arguments, got ${n}`);
      }
      const args = expr.args.map((a) => checkExpression(a, field));
      if (fn.regexArg === undefined) return { ...expr, args };
      const pattern = args[fn.regexArg];
      if (pattern?.kind !== "literal" || typeof pattern.value !== "string") {
        throw new MappingError(field, `${expr.name}(): the pattern must be a quoted text (compiled once, with RE2)`);
      }
      try {
        return { ...expr, args, regex: compileLinear(pattern.value) };
      } catch (e) {
        if (e instanceof RegexSyntaxError) throw new MappingError(field, `${expr.name}(): ${e.message}`);
        throw e;
      }
    }
  }
}

/** Parses and checks one expression; the error names the field and the position. */
export function compileExpression(src: string, field: string): Expr {
  try {
    return checkExpression(parseExpression(src), field);
  } catch (e) {
    if (e instanceof ExpressionError) throw new MappingError(field, `expression ${JSON.stringify(src.slice(0, 80))}: ${e.message}`);
    throw e;
  }
}

/** Splits a template string into text and expressions; `$${` is a literal `${`. */
function compileString(s: string, field: string): TemplateNode {
  if (!s.includes("${")) return { kind: "const", value: s };
  const parts: (string | Expr)[] = [];
  let textPart = "";
  let i = 0;
  while (i < s.length) {
    if (s.startsWith("$${", i)) {
      textPart += "${";
      i += 3;
    } else if (s.startsWith("${", i)) {
      const end = s.indexOf("}", i + 2);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the message quotes the mapping's own syntax.
      if (end < 0) throw new MappingError(field, "a ${ without its closing }");
      if (textPart !== "") parts.push(textPart);
      textPart = "";
      parts.push(compileExpression(s.slice(i + 2, end), field));
      i = end + 1;
    } else textPart += s[i++];
  }
  if (textPart !== "") parts.push(textPart);
  if (parts.length === 1 && typeof parts[0] !== "string") return { kind: "expr", expr: parts[0]! };
  if (parts.every((p) => typeof p === "string")) return { kind: "const", value: parts.join("") };
  return { kind: "text", parts };
}

export function compileTemplate(value: JsonValue, field: string, depth = 1): TemplateNode {
  if (depth > MAPPING_LIMITS.maxTemplateDepth)
    throw new MappingError(field, `nested deeper than ${MAPPING_LIMITS.maxTemplateDepth} levels`);
  if (typeof value === "string") return compileString(value, field);
  if (Array.isArray(value)) return { kind: "list", items: value.map((v, i) => compileTemplate(v, `${field}[${i}]`, depth + 1)) };
  if (isJsonObject(value)) {
    return { kind: "object", entries: Object.entries(value).map(([k, v]) => [k, compileTemplate(v, `${field}.${k}`, depth + 1)] as const) };
  }
  return { kind: "const", value };
}

function renderText(parts: readonly (string | Expr)[], ctx: EvalContext): Value {
  let out = "";
  for (const p of parts) {
    const v = typeof p === "string" ? p : evaluate(p, ctx, MAPPING_FUNCTIONS);
    if (v === undefined) return undefined;
    out += typeof v === "string" ? v : JSON.stringify(v);
    if (out.length > MAPPING_LIMITS.maxStringLength) throw limitExceeded(`a text longer than ${MAPPING_LIMITS.maxStringLength} characters`);
  }
  ctx.budget.spend(1 + (out.length >> 6));
  return out;
}

export function renderTemplate(node: TemplateNode, ctx: EvalContext): Value {
  switch (node.kind) {
    case "const":
      return node.value;
    case "expr":
      return evaluate(node.expr, ctx, MAPPING_FUNCTIONS);
    case "text":
      return renderText(node.parts, ctx);
    case "list": {
      const items = node.items.map((n) => renderTemplate(n, ctx)).filter((v) => v !== undefined);
      return items.length === 0 && node.items.length > 0 ? undefined : items;
    }
    case "object": {
      const out: JsonObject = {};
      for (const [k, n] of node.entries) {
        const v = renderTemplate(n, ctx);
        if (v !== undefined) out[k] = v;
      }
      return Object.keys(out).length === 0 && node.entries.length > 0 ? undefined : out;
    }
  }
}

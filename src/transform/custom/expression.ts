/**
 * The expression language of custom mappings (the grammar is in mapping-format.ts): parsed once, when a mapping is
 * compiled, into a small tree the evaluator walks. Parsing is bounded before it starts: the source is at most
 * MAPPING_LIMITS.maxExpressionLength characters and the parser refuses nesting deeper than maxExpressionDepth, so
 * a hostile `((((...` cannot exhaust the stack; a refused expression names its position.
 *
 *   expr     := term ("??" term)*
 *   term     := literal | call | path | "(" expr ")"
 *   call     := NAME "(" [expr ("," expr)*] ")"
 *   path     := (NAME | $NAME) ("." NAME | "[" (INTEGER | STRING) "]")*
 */
import type { LinearRegex } from "../../linear-regex.js";
import type { JsonValue } from "../edx-event.js";
import { MAPPING_LIMITS } from "./mapping-format.js";

export type Expr =
  | { readonly kind: "literal"; readonly value: JsonValue }
  /** `root` is an event key, or a variable when it starts with "$". */
  | { readonly kind: "path"; readonly root: string; readonly steps: readonly (string | number)[]; readonly source: string }
  | CallExpr
  | { readonly kind: "coalesce"; readonly options: readonly Expr[] };

export interface CallExpr {
  readonly kind: "call";
  readonly name: string;
  readonly args: readonly Expr[];
  /** The function's RE2 pattern argument, compiled when the mapping is (compile-expression.ts). */
  readonly regex?: LinearRegex;
}

/** A refused expression; `position` is the offset in its source. */
export class ExpressionError extends Error {
  override name = "ExpressionError";
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
  }
}

type Token =
  | { readonly t: "name"; readonly v: string; readonly at: number }
  | { readonly t: "string"; readonly v: string; readonly at: number }
  | { readonly t: "number"; readonly v: number; readonly at: number }
  | { readonly t: "punct"; readonly v: string; readonly at: number }
  | { readonly t: "end"; readonly at: number };

const NAME_START = /[A-Za-z_$]/;
const NAME_PART = /[A-Za-z0-9_$]/;
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/;

function readString(src: string, start: number): { value: string; end: number } {
  const quote = src[start];
  let out = "";
  let i = start + 1;
  while (i < src.length && src[i] !== quote) {
    if (src[i] === "\\" && i + 1 < src.length) {
      const next = src[i + 1]!;
      out += next === "n" ? "\n" : next === "t" ? "\t" : next;
      i += 2;
    } else out += src[i++];
  }
  if (i >= src.length) throw new ExpressionError("unterminated string", start);
  return { value: out, end: i + 1 };
}

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
    } else if (c === "'" || c === '"') {
      const s = readString(src, i);
      tokens.push({ t: "string", v: s.value, at: i });
      i = s.end;
    } else if (src.startsWith("??", i)) {
      tokens.push({ t: "punct", v: "??", at: i });
      i += 2;
    } else if ("().[],".includes(c)) {
      tokens.push({ t: "punct", v: c, at: i++ });
    } else if (/[-\d]/.test(c)) {
      const m = NUMBER.exec(src.slice(i));
      if (!m) throw new ExpressionError(`unexpected "${c}"`, i);
      tokens.push({ t: "number", v: Number(m[0]), at: i });
      i += m[0].length;
    } else if (NAME_START.test(c)) {
      let j = i + 1;
      while (j < src.length && NAME_PART.test(src[j]!)) j++;
      tokens.push({ t: "name", v: src.slice(i, j), at: i });
      i = j;
    } else throw new ExpressionError(`unexpected "${c}"`, i);
  }
  tokens.push({ t: "end", at: src.length });
  return tokens;
}

const KEYWORDS: Readonly<Record<string, JsonValue>> = { true: true, false: false, null: null };

class Parser {
  #pos = 0;
  constructor(
    private readonly src: string,
    private readonly tokens: readonly Token[],
  ) {}

  parse(): Expr {
    const expr = this.expr(0);
    const rest = this.peek();
    if (rest.t !== "end") throw new ExpressionError("unexpected text after the expression", rest.at);
    return expr;
  }

  private peek(): Token {
    return this.tokens[this.#pos]!;
  }

  private next(): Token {
    return this.tokens[this.#pos++]!;
  }

  private isPunct(v: string): boolean {
    const t = this.peek();
    return t.t === "punct" && t.v === v;
  }

  private expect(v: string): void {
    const t = this.next();
    if (t.t !== "punct" || t.v !== v) throw new ExpressionError(`expected "${v}"`, t.at);
  }

  private expr(depth: number): Expr {
    if (depth > MAPPING_LIMITS.maxExpressionDepth) {
      throw new ExpressionError(`nested deeper than ${MAPPING_LIMITS.maxExpressionDepth} levels`, this.peek().at);
    }
    const options = [this.term(depth)];
    while (this.isPunct("??")) {
      this.next();
      options.push(this.term(depth));
    }
    return options.length === 1 ? options[0]! : { kind: "coalesce", options };
  }

  private term(depth: number): Expr {
    const t = this.next();
    if (t.t === "string" || t.t === "number") return { kind: "literal", value: t.v };
    if (t.t === "punct" && t.v === "(") {
      const inner = this.expr(depth + 1);
      this.expect(")");
      return inner;
    }
    if (t.t !== "name") throw new ExpressionError("expected a path, a literal or a function call", t.at);
    if (t.v in KEYWORDS) return { kind: "literal", value: KEYWORDS[t.v]! };
    if (this.isPunct("(")) return this.call(t.v, depth);
    return this.path(t);
  }

  private call(name: string, depth: number): Expr {
    this.next();
    const args: Expr[] = [];
    if (!this.isPunct(")")) {
      args.push(this.expr(depth + 1));
      while (this.isPunct(",")) {
        this.next();
        args.push(this.expr(depth + 1));
      }
    }
    this.expect(")");
    return { kind: "call", name, args };
  }

  private path(root: Token & { t: "name" }): Expr {
    const steps: (string | number)[] = [];
    for (;;) {
      if (this.isPunct(".")) {
        this.next();
        const key = this.next();
        if (key.t !== "name") throw new ExpressionError("expected a key after '.'", key.at);
        steps.push(key.v);
      } else if (this.isPunct("[")) {
        this.next();
        const key = this.next();
        if (key.t === "number" && Number.isInteger(key.v) && key.v >= 0) steps.push(key.v);
        else if (key.t === "string") steps.push(key.v);
        else throw new ExpressionError("expected an index (0, 1, ...) or a quoted key inside [ ]", key.at);
        this.expect("]");
      } else break;
    }
    const end = this.peek().at;
    return { kind: "path", root: root.v, steps, source: this.src.slice(root.at, end).trim() };
  }
}

/** Parses one expression (the text inside `${...}`, or a condition). Throws ExpressionError. */
export function parseExpression(src: string): Expr {
  if (src.length > MAPPING_LIMITS.maxExpressionLength) {
    throw new ExpressionError(`longer than ${MAPPING_LIMITS.maxExpressionLength} characters`, 0);
  }
  if (src.trim() === "") throw new ExpressionError("empty expression", 0);
  return new Parser(src, tokenize(src)).parse();
}

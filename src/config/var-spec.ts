/**
 * One configuration variable: its name, default, help and schema, and whether its value is a secret. The secret
 * marking is honoured here and only here: `shown` is how every error names a value, `secretNote` is what --help says.
 */
import type { z } from "zod";
import { withoutUserinfo } from "../url-userinfo.js";

export interface VarSpec<T> {
  readonly name: string;
  readonly description: string;
  /** Raw default, parsed like a set value; "(...)" texts are descriptions of computed defaults, not values. */
  readonly defaultText: string;
  readonly schema: z.ZodType<T>;
  /**
   * Values that must never be shown: "value", the whole value (tokens, keys), is left out of every error;
   * "userinfo", a URL that may carry a password, is shown without its user info (url-userinfo.ts).
   */
  readonly secret?: "value" | "userinfo";
}

/** The typed values an area's variables parse to, keyed like the area's table. */
export type Parsed<V> = { readonly [K in keyof V]: V[K] extends VarSpec<infer T> ? T : never };

export function v<T>(name: string, defaultText: string, description: string, schema: z.ZodType<T>): VarSpec<T> {
  return { name, defaultText, description, schema };
}

/** Marks a variable whose value (or a URL's user info) must never be shown; see VarSpec.secret. */
export function secret<T>(kind: "value" | "userinfo", spec: VarSpec<T>): VarSpec<T> {
  return { ...spec, secret: kind };
}

/** How a bad value is named in an error: NAME="value", without what VarSpec.secret hides. */
export function shown(spec: VarSpec<unknown>, raw: string | undefined): string {
  if (spec.secret === "value") return `${spec.name} (value not shown)`;
  const value = raw !== undefined && spec.secret === "userinfo" ? withoutUserinfo(raw) : raw;
  return `${spec.name}=${JSON.stringify(value)}`;
}

/** What --help adds to a secret variable's description ("" for the others). */
export function secretNote(spec: VarSpec<unknown>): string {
  if (spec.secret === undefined) return "";
  return ` Secret: ${spec.secret === "value" ? "never shown" : "shown without user info"}.`;
}

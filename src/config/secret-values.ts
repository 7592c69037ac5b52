/**
 * Tokens and keys: long enough not to be guessed and not an example's placeholder (a value everyone knows, whatever
 * its length). Messages give the rule and the position, never the value.
 */
import { z } from "zod";
import { list } from "./schemas.js";

/** Example values people copy; refused whatever their length, as a token or key that everyone knows. */
const PLACEHOLDER = /change[-_ ]?me|replace[-_ ]?me|placeholder|^<.*>$|^(.)\1*$/i;
const TOKEN_MIN = 24;
const GENERATE_HINT = "generate one with: openssl rand -hex 32";

/** Bearer tokens, comma-separated, each sendable as `Bearer <token>`. */
export const tokenList = list.superRefine((tokens, ctx) => {
  tokens.forEach((t, i) => {
    const which = tokens.length > 1 ? `token ${i + 1}` : "the token";
    const problem = PLACEHOLDER.test(t)
      ? `${which} is a placeholder from an example`
      : t.length < TOKEN_MIN
        ? `${which} has ${t.length} characters; at least ${TOKEN_MIN} are needed`
        : /\s/.test(t)
          ? `${which} contains a space (it is sent as "Authorization: Bearer <token>")`
          : undefined;
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: `${problem}; ${GENERATE_HINT}` });
  });
});

/** A secret key of at least `min` characters. */
export const secretKey = (min: number) =>
  z
    .string()
    .min(min, `expected at least ${min} characters; ${GENERATE_HINT}`)
    .refine((s) => !PLACEHOLDER.test(s), `a placeholder from an example; ${GENERATE_HINT}`);

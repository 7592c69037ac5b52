/** Value forms shared by several areas; each message says what was expected, in the variable's own terms. */
import { z } from "zod";

export const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"], { error: "expected true or false" })
  .transform((v) => v === "true" || v === "1" || v === "yes");
export const positiveInt = z.coerce
  .number({ error: "expected a whole number" })
  .int("expected a whole number")
  .positive("expected a number above 0");
export const nonNegativeInt = z.coerce
  .number({ error: "expected a whole number" })
  .int("expected a whole number")
  .min(0, "expected 0 or more");
export const list = z.string().transform((v) =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== ""),
);

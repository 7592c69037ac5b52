/**
 * Durations as people write them in router files and flags: `200ms`, `30s`, `1m30s`, `2h`, `1.5s`: one or more
 * decimal numbers, each with a unit (h, m, s, ms, us or µs, ns), Go's time.ParseDuration grammar. The protobuf
 * JSON form (`0.2s`) is one case of it, so files written for buf curl still read.
 *
 * Hand-written and strict on purpose: the libraries that read "1m30s" (parse-duration) also take a bare number
 * as milliseconds and words like "5 mins", so `batch_interval: 30` would silently mean 30 ms. Here a number
 * without its unit is an error that names the accepted forms. Exact: nanoseconds in a bigint, no float rounding.
 */
import { create } from "@bufbuild/protobuf";
import { type Duration, DurationSchema } from "@bufbuild/protobuf/wkt";

const UNIT_NS: Readonly<Record<string, bigint>> = {
  h: 3_600_000_000_000n,
  m: 60_000_000_000n,
  s: 1_000_000_000n,
  ms: 1_000_000n,
  us: 1_000n,
  µs: 1_000n,
  ns: 1n,
};

const PART = /(\d+)(?:\.(\d+))?(h|ms|m|s|us|µs|ns)/y;

export const DURATION_FORMS = "a number and a unit, e.g. 200ms, 30s, 1m30s, 2h, 1.5s (units h, m, s, ms, us, ns)";

export class DurationError extends Error {
  override name = "DurationError";
}

/** Nanoseconds, or a DurationError naming `what` and the accepted forms. */
export function parseDuration(text: unknown, what: string): bigint {
  if (typeof text === "number") throw new DurationError(`${what}: ${text} has no unit; write ${DURATION_FORMS}`);
  if (typeof text !== "string") throw new DurationError(`${what}: expected a duration, ${DURATION_FORMS}`);
  const s = text.trim();
  let ns = 0n;
  let at = 0;
  PART.lastIndex = 0;
  while (at < s.length) {
    PART.lastIndex = at;
    const m = PART.exec(s);
    if (!m) break;
    const [whole, int, frac = "", unit] = m;
    const scale = 10n ** BigInt(frac.length);
    ns += (BigInt(int! + frac) * UNIT_NS[unit!]!) / scale;
    at += whole.length;
  }
  if (s === "" || at !== s.length) throw new DurationError(`${what}: "${text}" is not a duration; write ${DURATION_FORMS}`);
  return ns;
}

/** The protobuf JSON form of a google.protobuf.Duration: seconds with up to nine decimals and "s". */
export function durationJson(ns: bigint): string {
  const seconds = ns / 1_000_000_000n;
  const nanos = ns % 1_000_000_000n;
  return nanos === 0n ? `${seconds}s` : `${seconds}.${nanos.toString().padStart(9, "0").replace(/0+$/, "")}s`;
}

export function durationMessage(ns: bigint): Duration {
  return create(DurationSchema, { seconds: ns / 1_000_000_000n, nanos: Number(ns % 1_000_000_000n) });
}

/** A Duration for people: the largest units that divide it, e.g. 90 s -> "1m30s", 0.2 s -> "200ms". */
export function formatDuration(d: Duration | undefined): string {
  if (!d) return "";
  let ns = d.seconds * 1_000_000_000n + BigInt(d.nanos);
  if (ns === 0n) return "0s";
  let out = "";
  for (const unit of ["h", "m", "s", "ms", "us", "ns"]) {
    const size = UNIT_NS[unit]!;
    if (ns >= size) {
      out += `${ns / size}${unit}`;
      ns %= size;
    }
  }
  return out;
}

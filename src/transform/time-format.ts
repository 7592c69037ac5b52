/**
 * Timestamp and duration formats. ERB writes xAPI times through tincan (Python isoformat) and Caliper times
 * through dateutil/isodate, and the two differ; byte parity needs both.
 */
import { TransformSkip } from "./transform-skip.js";

const ISO_RE = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

interface ParsedTime {
  date: string;
  h: string;
  m: string;
  s: string;
  /** Fraction digits as written (may be longer than 6). */
  frac: string;
  /** Offset in minutes east of UTC; 0 when the input had none (edX always writes UTC). */
  offsetMin: number;
  offsetText: string;
}

function parseIso(raw: string, field: string): ParsedTime {
  const m = ISO_RE.exec(raw.trim());
  if (!m) throw TransformSkip.invalid(field, `is not an ISO 8601 timestamp: ${JSON.stringify(raw)}`);
  const [, date, h, mi, s, frac, tz] = m;
  let offsetMin = 0;
  let offsetText = "+00:00";
  if (tz !== undefined && tz.toUpperCase() !== "Z") {
    const sign = tz.startsWith("-") ? -1 : 1;
    const digits = tz.slice(1).replace(":", "");
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    offsetMin = sign * (oh * 60 + om);
    offsetText = `${sign < 0 ? "-" : "+"}${String(oh).padStart(2, "0")}:${String(om).padStart(2, "0")}`;
  }
  return { date: date!, h: h!, m: mi!, s: s ?? "00", frac: frac ?? "", offsetMin, offsetText };
}

/**
 * xAPI `timestamp`: Python `datetime.isoformat()` of the parsed value, as tincan writes it: `Z` becomes
 * `+00:00`, the fraction has 6 digits or is dropped when the microseconds are 0, the offset is kept.
 */
export function xapiTimestamp(raw: string): string {
  const t = parseIso(raw, "timestamp");
  const micros = t.frac.padEnd(6, "0").slice(0, 6);
  const fraction = /^0+$/.test(micros) ? "" : `.${micros}`;
  return `${t.date}T${t.h}:${t.m}:${t.s}${fraction}${t.offsetText}`;
}

/** Caliper `eventTime`: UTC, milliseconds truncated (not rounded), `YYYY-MM-DDTHH:MM:SS.mmmZ`. */
export function caliperEventTime(raw: string): string {
  const t = parseIso(raw, "timestamp");
  const ms = Number(t.frac.padEnd(3, "0").slice(0, 3));
  const wall = Date.UTC(
    Number(t.date.slice(0, 4)),
    Number(t.date.slice(5, 7)) - 1,
    Number(t.date.slice(8, 10)),
    Number(t.h),
    Number(t.m),
    Number(t.s),
    ms,
  );
  return new Date(wall - t.offsetMin * 60_000).toISOString();
}

/** Caliper envelope `sendTime` for a given instant. */
export function caliperSendTime(at: Date): string {
  return at.toISOString();
}

/** Python's timedelta.max, in seconds: 999999999 days. */
const TIMEDELTA_MAX_SECONDS = 999_999_999 * 86_400;

/**
 * ERB builds durations with `timedelta(seconds=...)`, which raises OverflowError beyond 999999999 days, and the
 * arithmetic below would turn such a number into "PInfinityD..." text: the event is skipped instead, as ERB fails it.
 */
function assertTimedeltaRange(totalSeconds: number): void {
  if (!(Math.abs(totalSeconds) <= TIMEDELTA_MAX_SECONDS)) {
    throw new TransformSkip("invalid_value", `a duration of ${totalSeconds} seconds is out of range (at most 999999999 days)`);
  }
}

/**
 * tincan's ISO 8601 duration (`jsonify_timedelta`): 195 -> PT03M15S, 60 -> PT01M00S, 3723.5 -> PT01H02M03.5S,
 * 86405 -> P1DT00H00M05S, 0.5 -> PT00.5S.
 */
export function tincanDuration(totalSeconds: number): string {
  assertTimedeltaRange(totalSeconds);
  const micros = Math.round(totalSeconds * 1e6);
  let rest = Math.floor(micros / 1e6);
  const fracMicros = micros - rest * 1e6;
  const days = Math.floor(rest / 86400);
  rest -= days * 86400;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const secs = rest - minutes * 60;
  const date = days ? `${days}D` : "";
  let time = "T";
  let bigger = Boolean(date) || hours > 0;
  if (bigger) time += `${String(hours).padStart(2, "0")}H`;
  bigger = bigger || minutes > 0;
  if (bigger) time += `${String(minutes).padStart(2, "0")}M`;
  const secText =
    fracMicros === 0
      ? String(secs).padStart(2, "0")
      : `${String(secs).padStart(2, "0")}.${String(fracMicros).padStart(6, "0")}`.replace(/0+$/, "");
  return `P${date}${time}${secText}S`;
}

/**
 * isodate's `duration_isoformat` of `timedelta(seconds=s)`, as ERB's Caliper transformers write durations:
 * PT3M15S, PT3M14.381S, PT10S, PT3.093662S; zero is P0D.
 */
export function isodateDuration(totalSeconds: number): string {
  assertTimedeltaRange(totalSeconds);
  const micros = Math.round(totalSeconds * 1e6);
  if (micros === 0) return "P0D";
  let rest = Math.floor(micros / 1e6);
  const fracMicros = micros - rest * 1e6;
  const days = Math.floor(rest / 86400);
  rest -= days * 86400;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const secs = rest - minutes * 60;
  let out = "P";
  if (days) out += `${days}D`;
  if (hours || minutes || secs || fracMicros) {
    out += "T";
    if (hours) out += `${hours}H`;
    if (minutes) out += `${minutes}M`;
    if (secs || fracMicros) {
      out += fracMicros ? `${secs}.${String(fracMicros).padStart(6, "0")}`.replace(/0+$/, "") : String(secs);
      out += "S";
    }
  }
  return out;
}

/** Python's round(x, 3) for the video numbers (length, time, time-from, time-to). */
export function round3(x: number): number {
  // From 2^52 up every double is an integer, so rounding changes nothing; x * 1000 could overflow to Infinity.
  if (Math.abs(x) >= 2 ** 52) return x;
  return Math.round((x + Number.EPSILON) * 1000) / 1000;
}

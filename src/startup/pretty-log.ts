/**
 * LOG_FORMAT=pretty: pino's JSON lines as one readable line each, for a developer at a terminal:
 *   16:47:48.123 INFO  router created routerId=my-lrs backend=xapi revision=3
 * Time (local, to the millisecond), level, message, then the other fields as key=value (strings with spaces
 * quoted, objects as JSON); an error's stack on the lines below. Machines keep reading JSON (the default when
 * stdout is not a terminal): this is for eyes only.
 *
 * Hand-written rather than pino-pretty: the service's lines are flat, and 60 lines cost less than the 14 packages
 * pino-pretty brings into the production install. Pure (formatLogLine); prettyDestination is the thin stream.
 */
import { Writable } from "node:stream";

const LEVELS: Readonly<Record<number, string>> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const COLORS: Readonly<Record<number, string>> = { 10: "90", 20: "36", 30: "32", 40: "33", 50: "31", 60: "35" };
/** Fields every line has, shown in the fixed columns or not at all. */
const HIDDEN = new Set(["level", "time", "msg", "pid", "hostname", "svc"]);

function value(v: unknown): string {
  if (typeof v === "string") return v === "" || /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (v !== null && typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function clock(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** One pino JSON line as text; a line that is not pino's (a statement log line on stdout) passes unchanged. */
export function formatLogLine(line: string, color: boolean): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof o !== "object" || o === null || typeof o["level"] !== "number") return line;
  const level = o["level"] as number;
  const name = (LEVELS[level] ?? String(level)).padEnd(5);
  const tag = color ? `\u001b[${COLORS[level] ?? "0"}m${name}\u001b[0m` : name;
  const err = o["err"] as { stack?: string } | undefined;
  const fields = Object.entries(o)
    .filter(([k]) => !HIDDEN.has(k) && !(k === "err" && typeof err?.stack === "string"))
    .map(([k, v]) => `${k}=${value(v)}`);
  const head = [clock(typeof o["time"] === "number" ? o["time"] : Date.now()), tag, String(o["msg"] ?? ""), ...fields].join(" ");
  return typeof err?.stack === "string" ? `${head}\n    ${err.stack.split("\n").join("\n    ")}` : head;
}

/** A synchronous destination for pino: each written chunk is one or more JSON lines. */
export function prettyDestination(out: NodeJS.WriteStream, color = out.isTTY === true): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = chunk.toString("utf8");
      const lines = text.split("\n").filter((l) => l !== "");
      out.write(`${lines.map((l) => formatLogLine(l, color)).join("\n")}\n`);
      done();
    },
  });
}

/** LOG_FORMAT, else pretty only for a person at a terminal: anything reading a pipe or a file gets JSON. */
export function resolveLogFormat(configured: "json" | "pretty" | undefined, stdoutIsTty: boolean): "json" | "pretty" {
  return configured ?? (stdoutIsTty ? "pretty" : "json");
}

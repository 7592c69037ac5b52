/**
 * Statement logs: one NDJSON line for every statement stored for delivery, per backend — the equivalent of
 * event-routing-backends' `xapi_tracking` / `caliper_tracking` loggers, which analytics stacks (Aspects' Vector)
 * tail. Its own folder (src/output/) because it is neither routing (where statements go) nor delivery (HTTP): it
 * is a copy of what the delivery stream holds, written beside it. What is stored is read back from JetStream by
 * statement-log-reader.ts; this file turns it into lines and writes them.
 *
 * Rules:
 * - A line per statement, not per router: the routers that got it are listed in `router_ids`. The statement is
 *   the body as stored for the first of them (for xAPI, that router's override_args are merged in).
 * - A write resolves only once the line is handed to the operating system (a file) or written (stdout), and
 *   rejects on failure (full disk, permissions, a directory that is not there): the reader retries the same
 *   lines and acknowledges nothing meanwhile, so a failing log holds one batch in memory and loses nothing.
 * - Off by default. `stdout` writes through pino's destination (SonicBoom, synchronous: the lines of one batch in
 *   one write call, never buffered behind the process's exit); they share stdout with pino's log lines and are
 *   told apart by shape (`statement_id`, no `level`). A file path is written through rotating-file-stream,
 *   rotated by size with logrotate names (FILE.1 ... FILE.N). That stream is unusable after an error, so a
 *   failed file is opened again on the next write: the log resumes by itself once the disk has room again.
 */
import { basename, dirname } from "node:path";
import { pino } from "pino";
import { createStream, type RotatingFileStream } from "rotating-file-stream";

const utf8 = new TextDecoder();

export type LogBackend = "xapi" | "caliper";

export interface StatementLogSettings {
  /** Per backend: "stdout", a file path, or undefined (off). */
  readonly destinations: Partial<Record<LogBackend, string>>;
  readonly maxBytes: number;
  readonly maxFiles: number;
}

/** One delivery message as the delivery stream holds it (read from its headers, body and storage time). */
export interface StoredStatement {
  readonly backend: string;
  readonly routerId: string;
  readonly statementId: string;
  readonly eventName: string;
  readonly body: Uint8Array;
  /** When JetStream stored it. */
  readonly storedAt: Date;
}

interface Sink {
  /** Resolves once `text` is written; rejects with the write's error. */
  write(text: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Pure: the log lines for stored messages, one per backend and statement id (first-seen order) listing every
 * router the batch holds it for; the time is when the first of them was stored.
 */
export function statementLogLines(messages: readonly StoredStatement[]): Map<string, string[]> {
  const byStatement = new Map<string, { first: StoredStatement; routerIds: string[] }>();
  for (const m of messages) {
    const key = `${m.backend}\u0000${m.statementId}`;
    const seen = byStatement.get(key);
    if (seen) seen.routerIds.push(m.routerId);
    else byStatement.set(key, { first: m, routerIds: [m.routerId] });
  }
  const lines = new Map<string, string[]>();
  for (const { first: s, routerIds } of byStatement.values()) {
    // The body is already JSON: spliced in rather than parsed and serialised again.
    const head = JSON.stringify({
      time: s.storedAt.toISOString(),
      backend: s.backend,
      event_name: s.eventName,
      statement_id: s.statementId,
      router_ids: routerIds,
    });
    const line = `${head.slice(0, -1)},"statement":${utf8.decode(s.body)}}\n`;
    const list = lines.get(s.backend);
    if (list) list.push(line);
    else lines.set(s.backend, [line]);
  }
  return lines;
}

function stdoutSink(): Sink {
  const dest = pino.destination({ dest: 1, sync: true });
  let failure: Error | undefined;
  dest.on("error", (e: Error) => (failure = e));
  return {
    write: async (text) => {
      dest.write(text);
      if (failure) {
        const e = failure;
        failure = undefined;
        throw e;
      }
    },
    close: async () => dest.flushSync(),
  };
}

function fileSink(path: string, settings: StatementLogSettings): Sink {
  let stream: RotatingFileStream | undefined;
  const open = (): RotatingFileStream => {
    const s = createStream(basename(path), { path: dirname(path), size: `${settings.maxBytes}B`, rotate: settings.maxFiles });
    // The write's callback carries the error; the listener only keeps an error event from crashing the process
    // and drops the broken stream so the next write opens the file again.
    s.on("error", () => {
      if (stream === s) stream = undefined;
    });
    return s;
  };
  return {
    write: (text) =>
      new Promise<void>((resolve, reject) => {
        if (!stream || stream.destroyed) stream = open();
        const s = stream;
        s.write(text, (e) => {
          if (!e) return resolve();
          if (stream === s) stream = undefined;
          s.destroy();
          reject(e);
        });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        const s = stream;
        stream = undefined;
        if (!s || s.destroyed) return resolve();
        s.once("error", () => resolve());
        s.end(() => resolve());
      }),
  };
}

export class StatementLog {
  private readonly sinks = new Map<LogBackend, Sink>();

  constructor(settings: StatementLogSettings) {
    const shared = new Map<string, Sink>();
    for (const [backend, dest] of Object.entries(settings.destinations) as Array<[LogBackend, string | undefined]>) {
      if (!dest) continue;
      // Both backends may name the same destination: one writer, or two would fight over the file.
      let sink = shared.get(dest);
      if (!sink) {
        sink = dest === "stdout" ? stdoutSink() : fileSink(dest, settings);
        shared.set(dest, sink);
      }
      this.sinks.set(backend, sink);
    }
  }

  /** The backends logged (each gets its reader). */
  get backends(): LogBackend[] {
    return [...this.sinks.keys()];
  }

  /** Writes lines of one backend in one write call; rejects when the write failed (nothing may be acknowledged). */
  async write(backend: LogBackend, lines: readonly string[]): Promise<void> {
    const sink = this.sinks.get(backend);
    if (!sink || lines.length === 0) return;
    await sink.write(lines.join(""));
  }

  async close(): Promise<void> {
    await Promise.all([...new Set(this.sinks.values())].map((s) => s.close()));
  }
}

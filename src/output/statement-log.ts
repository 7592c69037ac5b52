/**
 * Statement logs: one NDJSON line for every statement newly stored for delivery, per backend — the equivalent
 * of event-routing-backends' `xapi_tracking` / `caliper_tracking` loggers, which analytics stacks (Aspects'
 * Vector) tail. Its own folder (src/output/) because it is neither routing (where statements go) nor delivery
 * (HTTP): it is a copy of what the emit path stored, written beside it.
 *
 * Rules:
 * - A line per statement, not per router: the routers that got it are listed in `router_ids`. The statement is
 *   the body as stored for the first of them (for xAPI, that router's override_args are merged in).
 * - Only what JetStream newly stored (a PubAck that is not a duplicate): a replayed or retried event is not
 *   logged twice, and a statement is logged even when another publish of the same call failed (it IS stored).
 * - Off by default. `stdout` writes through pino's destination (SonicBoom, synchronous: the lines of one publish in
 *   one write call, never buffered behind the process's exit); they share stdout with pino's log lines and are
 *   told apart by shape (`statement_id`, no `level`). A file path is written through rotating-file-stream,
 *   rotated by size with logrotate names (FILE.1 ... FILE.N).
 */
import { dirname, basename } from "node:path";
import { pino } from "pino";
import { createStream } from "rotating-file-stream";
import type { DeliveryMessage } from "../routing/statement-routing.js";

const utf8 = new TextDecoder();

export type LogBackend = "xapi" | "caliper";

export interface StatementLogSettings {
  /** Per backend: "stdout", a file path, or undefined (off). */
  readonly destinations: Partial<Record<LogBackend, string>>;
  readonly maxBytes: number;
  readonly maxFiles: number;
}

interface Sink {
  write(text: string): void;
  close(): Promise<void>;
}

/** Pure: the log lines for a set of stored messages, grouped by backend and statement id, in first-seen order. */
export function statementLogLines(messages: readonly DeliveryMessage[], time: string): Map<string, string[]> {
  const byStatement = new Map<string, { backend: string; eventName: string; statementId: string; routerIds: string[]; body: Uint8Array }>();
  for (const m of messages) {
    const key = `${m.backend}\u0000${m.statementId}`;
    const seen = byStatement.get(key);
    if (seen) seen.routerIds.push(m.routerId);
    else
      byStatement.set(key, {
        backend: m.backend,
        eventName: m.eventName,
        statementId: m.statementId,
        routerIds: [m.routerId],
        body: m.body,
      });
  }
  const lines = new Map<string, string[]>();
  for (const s of byStatement.values()) {
    // The body is already JSON: spliced in rather than parsed and serialised again on the emit path.
    const head = JSON.stringify({
      time,
      backend: s.backend,
      event_name: s.eventName,
      statement_id: s.statementId,
      router_ids: s.routerIds,
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
  return { write: (text) => void dest.write(text), close: async () => dest.flushSync() };
}

function fileSink(path: string, settings: StatementLogSettings): Sink {
  const stream = createStream(basename(path), { path: dirname(path), size: `${settings.maxBytes}B`, rotate: settings.maxFiles });
  // A full disk must not take the service down; the statements are stored in JetStream regardless.
  let lastError: Error | undefined;
  stream.on("error", (e) => (lastError = e));
  return {
    write: (text) => void stream.write(text),
    close: () =>
      new Promise<void>((resolve) => {
        stream.end(() => resolve());
        if (lastError) resolve();
      }),
  };
}

export class StatementLog {
  private readonly sinks = new Map<string, Sink>();

  constructor(
    settings: StatementLogSettings,
    private readonly now: () => Date = () => new Date(),
  ) {
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

  /** Whether any backend is logged (when not, the publisher needs no hook). */
  get enabled(): boolean {
    return this.sinks.size > 0;
  }

  /** Writes the lines for messages JetStream newly stored. */
  readonly record = (messages: readonly DeliveryMessage[]): void => {
    if (messages.length === 0 || this.sinks.size === 0) return;
    for (const [backend, lines] of statementLogLines(messages, this.now().toISOString())) this.sinks.get(backend)?.write(lines.join(""));
  };

  async close(): Promise<void> {
    await Promise.all([...new Set(this.sinks.values())].map((s) => s.close()));
  }
}

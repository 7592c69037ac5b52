/**
 * The Redis Stream commands the event-bus input needs, over node-redis (@redis/client), with nothing else in it.
 *
 * - Two connections: XREADGROUP ... BLOCK holds its connection until entries arrive, so acknowledgements,
 *   claims and status queries use the other one and are never stuck behind a blocking read.
 * - No automatic reconnect and no offline queue: a lost connection fails the pending commands at once and the
 *   consumer loop (redis-consumer.ts) owns retrying, with backoff, health and logging in one place.
 * - RESP2 and raw replies for reads: entries are parsed here so that fields stay binary (`event_data` is Avro,
 *   not UTF-8) and an entry deleted while pending (nil fields, e.g. trimmed by the producer's MAXLEN) is
 *   reported instead of crashing the reply transform.
 */
import { createClient, RESP_TYPES } from "@redis/client";
import type { EntryFields } from "./entry-decoding.js";

export interface StreamEntry {
  readonly id: string;
  /** undefined: the entry was deleted from the stream while it was pending (trimmed before it was read). */
  readonly fields: EntryFields | undefined;
}

export interface Backlog {
  /** Delivered to a consumer of the group, not yet acknowledged (XPENDING). */
  readonly pending: number;
  /** Not yet delivered to the group (XINFO GROUPS lag); undefined when Redis cannot tell. */
  readonly lag: number | undefined;
}

type Client = ReturnType<typeof createBinaryClient>;

function createBinaryClient(url: string, connectTimeoutMs: number) {
  const socket = { reconnectStrategy: false as const, connectTimeout: connectTimeoutMs };
  return createClient({ url, RESP: 2, disableOfflineQueue: true, socket }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
}

const str = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString("utf8") : String(v));

function parseFields(flat: unknown): EntryFields | undefined {
  if (!Array.isArray(flat)) return undefined;
  const fields: Record<string, Buffer> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const value = flat[i + 1];
    fields[str(flat[i])] = Buffer.isBuffer(value) ? value : Buffer.from(String(value), "utf8");
  }
  return fields;
}

/** [[id, [field, value, ...] | nil], ...] */
function parseEntryList(list: unknown): StreamEntry[] {
  if (!Array.isArray(list)) return [];
  return list.filter((e): e is unknown[] => Array.isArray(e)).map((e) => ({ id: str(e[0]), fields: parseFields(e[1]) }));
}

export class RedisStream {
  private constructor(
    private readonly reader: Client,
    private readonly commands: Client,
    readonly key: string,
    readonly group: string,
    readonly consumer: string,
  ) {}

  /**
   * Opens both connections. `onLost` is called (once per connection) when one drops; the pending commands fail
   * on their own, this only makes the loss visible without waiting for the next command.
   */
  static async connect(opts: {
    readonly url: string;
    readonly key: string;
    readonly group: string;
    readonly consumer: string;
    readonly connectTimeoutMs: number;
    readonly onLost: (err: Error) => void;
  }): Promise<RedisStream> {
    const reader = createBinaryClient(opts.url, opts.connectTimeoutMs);
    const commands = createBinaryClient(opts.url, opts.connectTimeoutMs);
    for (const c of [reader, commands]) c.on("error", (e: Error) => opts.onLost(e));
    try {
      await Promise.all([reader.connect(), commands.connect()]);
    } catch (e) {
      for (const c of [reader, commands]) destroyQuietly(c);
      throw e;
    }
    return new RedisStream(reader, commands, opts.key, opts.group, opts.consumer);
  }

  /** Creates the group (and the stream, as event-bus-redis's consumer does) unless it exists. */
  async ensureGroup(startId: string): Promise<void> {
    try {
      await this.commands.xGroupCreate(this.key, this.group, startId, { MKSTREAM: true });
    } catch (e) {
      if (!/BUSYGROUP/.test((e as Error)?.message ?? "")) throw e;
    }
  }

  /** New entries for this consumer (`>`), waiting up to blockMs for the first one. */
  async readNew(count: number, blockMs: number): Promise<StreamEntry[]> {
    const reply = await this.reader.sendCommand([
      ...["XREADGROUP", "GROUP", this.group, this.consumer, "COUNT", String(count), "BLOCK", String(blockMs)],
      ...["STREAMS", this.key, ">"],
    ]);
    return this.streamEntries(reply);
  }

  /** Entries delivered to this consumer earlier and never acknowledged, after `afterId` (start with "0"). */
  async readOwnPending(afterId: string, count: number): Promise<StreamEntry[]> {
    const reply = await this.commands.sendCommand([
      ...["XREADGROUP", "GROUP", this.group, this.consumer, "COUNT", String(count)],
      ...["STREAMS", this.key, afterId],
    ]);
    return this.streamEntries(reply);
  }

  /**
   * XAUTOCLAIM: takes over entries pending (in any consumer) for at least minIdleMs, from `cursor` on.
   * `deleted` are pending ids whose entries no longer exist (Redis 7 removes them from the PEL itself).
   */
  async autoClaim(minIdleMs: number, cursor: string, count: number): Promise<{ next: string; entries: StreamEntry[]; deleted: string[] }> {
    const args = ["XAUTOCLAIM", this.key, this.group, this.consumer, String(minIdleMs), cursor, "COUNT", String(count)];
    const reply = (await this.commands.sendCommand(args)) as unknown[];
    const entries = Array.isArray(reply[1]) ? (reply[1] as unknown[]) : [];
    const claimed = parseEntryList(entries.filter((e) => e !== null));
    const deleted = Array.isArray(reply[2]) ? (reply[2] as unknown[]).map(str) : [];
    return { next: str(reply[0]), entries: claimed, deleted };
  }

  async ack(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.commands.xAck(this.key, this.group, [...ids]);
  }

  async backlog(): Promise<Backlog> {
    const [pending, groups] = await Promise.all([
      this.commands.sendCommand(["XPENDING", this.key, this.group]) as Promise<unknown[]>,
      this.commands.sendCommand(["XINFO", "GROUPS", this.key]) as Promise<unknown[]>,
    ]);
    let lag: number | undefined;
    for (const g of groups) {
      if (!Array.isArray(g)) continue;
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < g.length; i += 2) info.set(str(g[i]), g[i + 1]);
      if (str(info.get("name")) !== this.group) continue;
      const l = info.get("lag");
      lag = typeof l === "number" ? l : undefined;
    }
    return { pending: Number(pending[0] ?? 0), lag };
  }

  /**
   * Removes this consumer from the group when it holds no pending entries (a clean stop), so rollouts that give
   * every pod a new name do not leave a dead consumer per rollout in XINFO CONSUMERS. One script, so the check
   * and the delete are atomic: a consumer deleted with pending entries would strand them (nobody could claim
   * them). Resolves true when removed (or already gone), false when kept because entries are pending.
   */
  async removeConsumerIfIdle(): Promise<boolean> {
    const reply = await this.commands.sendCommand(["EVAL", REMOVE_IF_IDLE, "1", this.key, this.group, this.consumer]);
    return Number(reply) >= 0;
  }

  /** Ends a blocked read at once (for a prompt stop); acknowledgements on the other connection still complete. */
  interruptRead(): void {
    destroyQuietly(this.reader);
  }

  /** Closes both connections at once; a blocked read and any pending command fail. */
  destroy(): void {
    destroyQuietly(this.reader);
    destroyQuietly(this.commands);
  }

  private streamEntries(reply: unknown): StreamEntry[] {
    // RESP2: nil on timeout, else [[key, entries]] for the one stream read.
    if (!Array.isArray(reply) || reply.length === 0) return [];
    const first = reply[0] as unknown[];
    return parseEntryList(first[1]);
  }
}

/** KEYS[1] stream, ARGV group and consumer: -1 when the consumer has pending entries, else XGROUP DELCONSUMER's reply. */
const REMOVE_IF_IDLE = `
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return -1 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
`;

function destroyQuietly(c: Client): void {
  try {
    if (c.isOpen) c.destroy();
  } catch {
    // already closed
  }
}

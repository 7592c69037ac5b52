/**
 * The forget records in the forgotten bucket (`f.<id>`, forget-record.ts): written with compare-and-set on the KV
 * revision, so two instances never both believe they scan the same forget. A write that finds a newer revision
 * means another instance took the forget over (its claim had lapsed): the loser stops.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { NotFoundError, UnavailableError } from "../errors.js";
import { FORGET_PREFIX, type ForgetRecord } from "./forget-record.js";

export interface Revisioned {
  readonly record: ForgetRecord;
  readonly revision: number;
}

/** Another instance wrote the record since it was read. */
export class LostClaimError extends Error {
  constructor(id: string) {
    super(`forget ${id} was taken over by another instance`);
    this.name = "LostClaimError";
  }
}

export class ForgetStore {
  constructor(private readonly kv: KV) {}

  async create(record: ForgetRecord): Promise<Revisioned> {
    const revision = await this.#call("store", () => this.kv.create(`${FORGET_PREFIX}${record.id}`, JSON.stringify(record)));
    return { record, revision };
  }

  async get(id: string): Promise<Revisioned | undefined> {
    // Ids name KV keys: anything else cannot be one (and must not reach the key as a wildcard).
    if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) return undefined;
    const e = await this.#call("read", () => this.kv.get(`${FORGET_PREFIX}${id}`));
    if (e?.operation !== "PUT") return undefined;
    return { record: e.json<ForgetRecord>(), revision: e.revision };
  }

  async require(id: string): Promise<Revisioned> {
    const r = await this.get(id);
    if (r === undefined) throw new NotFoundError(`forget_id: no forget ${id}`);
    return r;
  }

  /** Writes `record` if nothing was written since `revision`; throws LostClaimError otherwise. */
  async save(record: ForgetRecord, revision: number): Promise<number> {
    try {
      return await this.kv.update(`${FORGET_PREFIX}${record.id}`, JSON.stringify(record), revision);
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamWrongLastSequence) throw new LostClaimError(record.id);
      throw new UnavailableError(`cannot save forget ${record.id}: ${(e as Error).message}`);
    }
  }

  /** Every forget record (running and done). */
  async list(): Promise<ForgetRecord[]> {
    const keys: string[] = [];
    await this.#call("list", async () => {
      for await (const k of await this.kv.keys(`${FORGET_PREFIX}>`)) keys.push(k);
    });
    const records = await Promise.all(keys.map((k) => this.#call("read", () => this.kv.get(k))));
    return records.flatMap((e) => (e?.operation === "PUT" ? [e.json<ForgetRecord>()] : []));
  }

  async #call<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw new UnavailableError(`cannot ${what} forget records: ${(e as Error).message}`);
    }
  }
}

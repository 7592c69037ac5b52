/** Stub services and helpers shared by the server tests; no domain logic, only fixed answers and domain errors. */
import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import pino, { type Logger } from "pino";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { EventResultSchema, type EventInput } from "../gen/eventrouting/v1/event_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { NotFoundError, ValidationError } from "../src/errors.js";
import type { Tokens } from "../src/server/auth.js";

export const EMIT_TOKEN = "emit-secret-token-aaaaaaaaaaaaaaaa";
export const ADMIN_TOKEN = "admin-secret-token-bbbbbbbbbbbbbbbb";
export const TOKENS: Tokens = { emit: [EMIT_TOKEN], admin: [ADMIN_TOKEN] };
export const SECRET_DETAIL = "db password hunter2 at 10.0.0.7";

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Hooks a test sets to observe or hold a call; `json` of the event selects the behaviour. */
export interface StubControls {
  /** Called for Transform with json "hold"; the call answers when the promise settles. */
  hold?: (ctx: HandlerContext) => Promise<void>;
}

function behave(input: EventInput | undefined): void {
  const json = input?.event.case === "json" ? input.event.value : "";
  if (json === "invalid") throw new ValidationError("event.json", "is not a JSON object");
  if (json === "boom") throw new Error(SECRET_DETAIL);
  if (json === "missing") throw new NotFoundError("no such router: r1");
}

export function registerStubs(router: ConnectRouter, controls: StubControls = {}): void {
  const result = (name: string) => create(EventResultSchema, { name });
  router.service(EventRoutingService, {
    emit(req) {
      behave(req.event);
      return { result: result("emit") };
    },
    emitBatch(req) {
      return {
        results: req.events.map((e, index) => {
          behave(e);
          return create(EventResultSchema, { index, name: "batch" });
        }),
      };
    },
    async transform(req, ctx) {
      if (req.event?.event.case === "json" && req.event.event.value === "hold") await controls.hold?.(ctx);
      behave(req.event);
      return { result: result("transform") };
    },
    listFailed() {
      return { nextPageToken: "" };
    },
    retryFailed() {
      return { retried: 1 };
    },
    purgeFailed() {
      return {};
    },
  });
  router.service(RouterAdminService, {
    listRouters() {
      return {};
    },
  });
}

/** A pino logger whose JSON lines land in `lines`. */
export function capturingLogger(): { logger: Logger; lines: () => Array<Record<string, unknown>>; raw: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString("utf8"));
      cb();
    },
  });
  const logger = pino({ level: "info" }, sink);
  const raw = () => chunks.join("");
  return {
    logger,
    raw,
    lines: () =>
      raw()
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Resolves/rejects from outside; for holding a call open until the test says so. */
export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

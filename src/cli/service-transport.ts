/**
 * The one way the CLI reaches a running service, for the operator commands and `replay` alike: the URL and token
 * from the flags, else EVENT_ROUTING_URL / EVENT_ROUTING_TOKEN, else the default URL; a gRPC transport that sends
 * the token as a bearer credential on every call and gives every call the same deadline. Commands make clients on
 * it and pass no per-call options, so a call cannot go out without the token or without a deadline.
 */
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { UsageError } from "./exit-codes.js";

export const DEFAULT_URL = "http://127.0.0.1:8080";

export interface ServiceAddress {
  /** As given (flag, environment or default): replay's checkpoint is keyed by it. */
  readonly url: string;
  /** Undefined: calls go without a credential (the service answers Unauthenticated). */
  readonly token: string | undefined;
}

export interface ServiceTarget extends ServiceAddress {
  /**
   * Every call's deadline; a call that takes longer fails DeadlineExceeded. Undefined: no deadline is sent, for a
   * call longer than the service accepts as a deadline (MAX_TIMEOUT_MS); the command then bounds it itself.
   */
  readonly timeoutMs: number | undefined;
}

/** Flag, else environment, else default. */
export function serviceAddress(
  flags: { readonly url?: string | undefined; readonly token?: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
): ServiceAddress {
  return { url: flags.url ?? env["EVENT_ROUTING_URL"] ?? DEFAULT_URL, token: flags.token ?? env["EVENT_ROUTING_TOKEN"] };
}

/** A transport to the target; a URL that does not parse is a usage error naming the variable and the flag. */
export function serviceTransport(target: ServiceTarget): Transport {
  let baseUrl: string;
  try {
    baseUrl = new URL(target.url).toString().replace(/\/$/, "");
  } catch {
    throw new UsageError(`EVENT_ROUTING_URL / --url "${target.url}" is not a URL; expected e.g. ${DEFAULT_URL}`);
  }
  const { token } = target;
  const auth: Interceptor = (next) => (req) => {
    if (token) req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
  return createGrpcTransport({
    baseUrl,
    interceptors: [auth],
    ...(target.timeoutMs === undefined ? {} : { defaultTimeoutMs: target.timeoutMs }),
  });
}

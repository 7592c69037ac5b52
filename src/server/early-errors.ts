/**
 * Calls that fail before any interceptor runs. connect-es parses the request message before the interceptor
 * chain, so a malformed request never reaches the logging interceptor (nothing was logged), and it reports a
 * protobuf binary that fails to parse (invalid UTF-8 in a string field, a Struct nested past protobuf's recursion
 * limit) as Internal "parse binary: ...", the code this service keeps for its own bugs. The client sent bad
 * bytes: that is InvalidArgument (JSON bodies that fail to parse already are).
 *
 * This wraps each universal handler: when the interceptors never saw the call (a marker interceptor records it
 * in the call's context values), the error code and message are read back from the response as the protocol wrote
 * them (gRPC trailers, the gRPC-web trailer frame, the Connect unary JSON error), the parse failure is re-coded,
 * and one log line is written like the logging interceptor's. Relies on connect-es's "parse binary: " prefix
 * (pinned version, covered by test/hostile-input.test.ts).
 */
import { performance } from "node:perf_hooks";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { encodeEnvelope, type UniversalHandler, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeFromString, codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { protocolOf } from "./interceptors.js";

const REACHED_INTERCEPTORS = createContextKey(false, { description: "the call reached the interceptor chain" });

/** First in the chain: marks the call as seen, so the wrapper leaves its answer and its log line alone. */
export const reachedInterceptor: Interceptor = (next) => (req) => {
  req.contextValues.set(REACHED_INTERCEPTORS, true);
  return next(req);
};

export interface EarlyFailure {
  readonly procedure: string;
  readonly protocol: "grpc" | "grpc-web" | "connect";
  readonly code: Code;
  readonly message: string;
  readonly ms: number;
}

const PARSE_BINARY = "parse binary: ";

/** A request message that failed to parse is the caller's error; anything else keeps its code. */
function recode(code: Code, message: string): { code: Code; message: string } {
  if (code === Code.Internal && message.startsWith(PARSE_BINARY)) {
    return { code: Code.InvalidArgument, message: `request message: ${message.slice(PARSE_BINARY.length)}` };
  }
  return { code, message };
}

export function withEarlyErrors(handler: UniversalHandler, onFailure: (f: EarlyFailure) => void): UniversalHandler {
  const procedure = `${handler.service.typeName}/${handler.method.name}`;
  const wrapped = async (req: Parameters<UniversalHandler>[0]) => {
    const start = performance.now();
    const res = await handler(req);
    if (req.contextValues?.get(REACHED_INTERCEPTORS)) return res;
    const protocol = protocolOf(req.header.get("content-type"));
    const read = protocol === "grpc" ? grpcError(res) : protocol === "grpc-web" ? await grpcWebError(res) : await connectError(res);
    if (read.error === undefined) return read.response;
    const { code, message } = recode(read.error.code, read.error.message);
    onFailure({ procedure, protocol, code, message, ms: Math.round((performance.now() - start) * 100) / 100 });
    return code === read.error.code ? read.response : read.rewrite(new ConnectError(message, code));
  };
  return Object.assign(wrapped, {
    protocolNames: handler.protocolNames,
    supportedContentType: handler.supportedContentType,
    allowedMethods: handler.allowedMethods,
    requestPath: handler.requestPath,
    service: handler.service,
    method: handler.method,
  }) as UniversalHandler;
}

/** What a response says about its call: the response to send on (its body re-buffered when it had to be read). */
type ReadError =
  | { readonly error?: undefined; readonly response: UniversalServerResponse }
  | {
      readonly error: { code: Code; message: string };
      readonly response: UniversalServerResponse;
      rewrite(e: ConnectError): UniversalServerResponse;
    };

function statusOf(h: Headers | undefined): { code: Code; message: string } | undefined {
  const status = h?.get("grpc-status");
  if (status === null || status === undefined || status === "0") return undefined;
  return { code: Number(status) as Code, message: decodeURIComponent(h!.get("grpc-message") ?? "") };
}

function setStatus(h: Headers, e: ConnectError): Headers {
  const out = new Headers(h);
  out.set("grpc-status", String(e.code));
  out.set("grpc-message", encodeURIComponent(e.rawMessage));
  return out;
}

/** gRPC: a failure before the handler has its status in the trailers (or headers, trailers-only) already. */
function grpcError(res: UniversalServerResponse): ReadError {
  const inTrailer = statusOf(res.trailer);
  const error = inTrailer ?? statusOf(res.header);
  if (!error) return { response: res };
  return {
    error,
    response: res,
    rewrite: (e) => (inTrailer ? { ...res, trailer: setStatus(res.trailer!, e) } : { ...res, header: setStatus(res.header!, e) }),
  };
}

async function readAll(body: AsyncIterable<Uint8Array> | undefined): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  if (body) for await (const c of body) chunks.push(c);
  return Buffer.concat(chunks);
}

const once = (bytes: Uint8Array): AsyncIterable<Uint8Array> => ({
  async *[Symbol.asyncIterator]() {
    yield bytes;
  },
});

/** gRPC-web: the body of a call that never reached the handler is a single, uncompressed trailer frame. */
async function grpcWebError(res: UniversalServerResponse): Promise<ReadError> {
  if (res.header?.has("grpc-encoding")) return { response: res };
  const bytes = await readAll(res.body);
  const response = { ...res, body: once(bytes) };
  if (bytes.length < 5 || bytes[0] !== trailerFlag) return { response };
  const trailer = trailerParse(bytes.subarray(5, 5 + Buffer.from(bytes.buffer, bytes.byteOffset + 1, 4).readUInt32BE(0)));
  const error = statusOf(trailer);
  if (!error) return { response };
  return {
    error,
    response,
    rewrite: (e) => ({ ...res, body: once(encodeEnvelope(trailerFlag, trailerSerialize(setStatus(trailer, e)))) }),
  };
}

/** Connect unary: an HTTP error status with a JSON error body. */
async function connectError(res: UniversalServerResponse): Promise<ReadError> {
  if (res.status === 200 || !res.header?.get("content-type")?.startsWith("application/json") || res.header.has("content-encoding")) {
    return { response: res };
  }
  const bytes = await readAll(res.body);
  const response = { ...res, body: once(bytes) };
  let parsed: { code?: unknown; message?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString("utf8")) as typeof parsed;
  } catch {
    return { error: { code: Code.Unknown, message: `HTTP ${res.status}` }, response, rewrite: () => response };
  }
  const code = typeof parsed.code === "string" ? codeFromString(parsed.code) : undefined;
  if (code === undefined) return { response };
  return {
    error: { code, message: typeof parsed.message === "string" ? parsed.message : "" },
    response,
    rewrite: (e) => {
      const body = errorToJsonBytes(e, {});
      const header = new Headers(res.header);
      header.set("content-length", String(body.byteLength));
      return { ...res, status: codeToHttpStatus(e.code), header, body: once(body) };
    },
  };
}

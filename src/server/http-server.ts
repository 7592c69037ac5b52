/**
 * One TCP port for HTTP/2 and HTTP/1.1. With TLS, ALPN decides (h2 or http/1.1); without it there is no ALPN, so
 * each connection's first bytes decide (the HTTP/2 preface starts with "PRI"). Tracks connections so close() can
 * drain them gracefully.
 *
 * Limits, so one client cannot hold the server's memory or sockets: a cap on open connections (the excess is
 * closed at once), HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection (streams above it are refused, RFC 9113
 * 5.1.2), and an idle timeout that closes an HTTP/2 connection with no open stream (GOAWAY) or an HTTP/1.1
 * connection between requests. Long calls (health Watch, a slow Emit) are never idle: only connections with
 * nothing in flight are closed.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import type { NodeHandler } from "./connect-handler.js";

export interface HttpServerOptions {
  handler: NodeHandler;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** A connection that sends nothing (or does not finish the TLS handshake) this long is dropped. */
  sniffTimeoutMs?: number;
  /** PEM certificate chain and key: serve TLS only (h2 and HTTP/1.1 by ALPN). Absent: cleartext. */
  tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** HTTP/2 streams one connection may have open at once. Default 100. */
  maxConcurrentStreams?: number;
  /** Close a connection with nothing in flight after this long. Default 120 s. */
  idleTimeoutMs?: number;
  /** Open connections at most; more are closed on accept. Default unlimited. */
  maxConnections?: number;
  /** Told each time a connection is refused by maxConnections (for a log line or a counter). */
  onConnectionRefused?: () => void;
}

export interface RunningHttpServer {
  readonly port: number;
  /**
   * Stops accepting connections, lets in-flight requests finish for up to graceMs, then calls onGraceExpired
   * (e.g. abort the handlers' shutdown signal) and destroys whatever is still open after forceAfterMs more.
   * Resolves when every connection is closed.
   */
  close(graceMs: number, onGraceExpired?: () => void, forceAfterMs?: number): Promise<void>;
}

export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const conns: Connections = { closing: false, sessions: new Set(), sockets: new Set(), unsniffed: new Set() };
  const idleTimeoutMs = opts.idleTimeoutMs ?? 120_000;
  const h2 = createH2Server(opts, conns, idleTimeoutMs);
  const h1 = createH1Server(opts, conns, idleTimeoutMs);
  const secure = opts.tls ? createTlsServer(opts.tls, opts.sniffTimeoutMs, conns, h2, h1.server) : undefined;
  const front = createFrontServer(opts, conns, secure, h2, h1.server);
  const port = await listen(front, opts.port, opts.host);
  return { port, close: closer(front, conns, h1.drain) };
}

/** What one server tracks so close() can drain it: its connections and whether it is closing. */
interface Connections {
  closing: boolean;
  readonly sessions: Set<http2.ServerHttp2Session>;
  readonly sockets: Set<net.Socket>;
  /** Cleartext sockets whose protocol is not known yet. */
  readonly unsniffed: Set<net.Socket>;
}

/** The HTTP/2 server; it accepts no socket itself, connections are handed to it. */
function createH2Server(opts: HttpServerOptions, conns: Connections, idleTimeoutMs: number): http2.Http2Server {
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: opts.maxConcurrentStreams ?? 100 } }, opts.handler);
  h2.on("session", (session) => {
    conns.sessions.add(session);
    session.once("close", () => conns.sessions.delete(session));
    // A connection sniffed after close() began gets GOAWAY at once.
    if (conns.closing) session.close();
    closeWhenIdle(session, idleTimeoutMs);
  });
  return h2;
}

/** The HTTP/1.1 server, and how to drain it: it tracks its requests in flight to end keep-alive on close. */
function createH1Server(opts: HttpServerOptions, conns: Connections, idleTimeoutMs: number): { server: http.Server; drain(): void } {
  const active = new Set<http.ServerResponse>();
  const h1 = http.createServer((req, res) => {
    active.add(res);
    res.once("close", () => active.delete(res));
    // While draining, answer but do not keep the connection for another request.
    if (conns.closing) res.shouldKeepAlive = false;
    opts.handler(req, res);
  });
  // Between requests on a kept-alive connection; during a request the HTTP/1.1 request timeouts apply.
  h1.keepAliveTimeout = idleTimeoutMs;
  const drain = (): void => {
    h1.closeIdleConnections();
    for (const res of active) {
      if (!res.headersSent) res.shouldKeepAlive = false;
      // Headers already out with keep-alive: the connection turns idle after this response; close it then.
      else res.once("finish", () => setImmediate(() => h1.closeIdleConnections()));
    }
  };
  return { server: h1, drain };
}

/** TLS: the handshake picks the protocol. The TLS server only wraps sockets; the front server owns accept. */
function createTlsServer(
  certificate: NonNullable<HttpServerOptions["tls"]>,
  sniffTimeoutMs: number | undefined,
  conns: Connections,
  h2: http2.Http2Server,
  h1: http.Server,
): tls.Server {
  const secure = tls.createServer({
    cert: certificate.cert,
    key: certificate.key,
    ALPNProtocols: ["h2", "http/1.1"],
    minVersion: "TLSv1.2",
    handshakeTimeout: sniffTimeoutMs ?? 10_000,
  });
  secure.on("secureConnection", (socket: tls.TLSSocket) => {
    conns.sockets.add(socket);
    socket.once("close", () => conns.sockets.delete(socket));
    socket.on("error", () => {});
    (socket.alpnProtocol === "h2" ? h2 : h1).emit("connection", socket);
  });
  // A failed handshake (a cleartext client, an untrusted certificate) only concerns that connection.
  secure.on("tlsClientError", (_err, socket) => socket.destroy());
  return secure;
}

/** The server that accepts every connection and hands it to TLS, or sniffs it when cleartext. */
function createFrontServer(
  opts: HttpServerOptions,
  conns: Connections,
  secure: tls.Server | undefined,
  h2: http2.Http2Server,
  h1: http.Server,
): net.Server {
  const front = net.createServer((socket) => {
    conns.sockets.add(socket);
    socket.once("close", () => {
      conns.sockets.delete(socket);
      conns.unsniffed.delete(socket);
    });
    // Resets before hand-over would otherwise be unhandled 'error' events; after it, the HTTP servers handle them.
    socket.on("error", () => {});
    if (secure) {
      secure.emit("connection", socket);
      return;
    }
    conns.unsniffed.add(socket);
    sniffProtocol(socket, opts.sniffTimeoutMs ?? 10_000, () => conns.unsniffed.delete(socket), h2, h1);
  });
  if (opts.maxConnections !== undefined) front.maxConnections = opts.maxConnections;
  front.on("drop", () => opts.onConnectionRefused?.());
  return front;
}

/** Hands a cleartext socket to the server its first bytes name; drops it when it stays silent for timeoutMs. */
function sniffProtocol(socket: net.Socket, timeoutMs: number, sniffed: () => void, h2: http2.Http2Server, h1: http.Server): void {
  const silent = (): void => void socket.destroy();
  socket.setTimeout(timeoutMs, silent);
  let head = Buffer.alloc(0);
  const sniff = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    // Three bytes tell "PRI" (HTTP/2 preface) from every HTTP/1.1 method, including POST, PUT and PATCH.
    if (head.length < 3) return;
    socket.off("data", sniff);
    socket.setTimeout(0);
    socket.off("timeout", silent);
    sniffed();
    socket.pause();
    socket.unshift(head);
    (head.subarray(0, 3).toString("latin1") === "PRI" ? h2 : h1).emit("connection", socket);
    process.nextTick(() => socket.resume());
  };
  socket.on("data", sniff);
}

/** Listens and resolves with the port bound (the one picked when `port` is 0). */
async function listen(front: net.Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(port, host, () => {
      front.off("error", reject);
      resolve();
    });
  });
  const address = front.address();
  return typeof address === "object" && address !== null ? address.port : port;
}

/** RunningHttpServer.close: drains once, whoever calls it how often. */
function closer(front: net.Server, conns: Connections, drainH1: () => void): RunningHttpServer["close"] {
  let closed: Promise<void> | undefined;
  return (graceMs, onGraceExpired, forceAfterMs = 500) => {
    closed ??= new Promise<void>((resolve) => {
      conns.closing = true;
      const timers: NodeJS.Timeout[] = [];
      // net.Server's callback fires once every connection it accepted has closed, whichever server served it.
      front.close(() => {
        for (const t of timers) clearTimeout(t);
        resolve();
      });
      for (const s of conns.unsniffed) s.destroy();
      for (const s of conns.sessions) s.close();
      drainH1();
      timers.push(
        setTimeout(() => {
          onGraceExpired?.();
          timers.push(
            setTimeout(() => {
              for (const s of conns.sessions) s.destroy();
              for (const s of conns.sockets) s.destroy();
            }, forceAfterMs),
          );
        }, graceMs),
      );
    });
    return closed;
  };
}

/**
 * GOAWAY once the session has had no open stream for idleMs. Counting streams (not frames) keeps a quiet but
 * open call, such as a health Watch, alive; Node's own session timeout would cut it.
 */
function closeWhenIdle(session: http2.ServerHttp2Session, idleMs: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    timer = setTimeout(() => session.close(), idleMs);
    timer.unref();
  };
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    open++;
    clearTimeout(timer);
    stream.once("close", () => {
      open--;
      if (open === 0 && !session.closed) arm();
    });
  });
  session.once("close", () => clearTimeout(timer));
  arm();
}

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
  let closing = false;
  const sessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<net.Socket>();
  const unsniffed = new Set<net.Socket>();

  const idleTimeoutMs = opts.idleTimeoutMs ?? 120_000;
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: opts.maxConcurrentStreams ?? 100 } }, opts.handler);
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    // A connection sniffed after close() began gets GOAWAY at once.
    if (closing) session.close();
    closeWhenIdle(session, idleTimeoutMs);
  });
  const h1Active = new Set<http.ServerResponse>();
  const h1 = http.createServer((req, res) => {
    h1Active.add(res);
    res.once("close", () => h1Active.delete(res));
    // While draining, answer but do not keep the connection for another request.
    if (closing) res.shouldKeepAlive = false;
    opts.handler(req, res);
  });
  // Between requests on a kept-alive connection; during a request the HTTP/1.1 request timeouts apply.
  h1.keepAliveTimeout = idleTimeoutMs;
  const drainH1 = (): void => {
    h1.closeIdleConnections();
    for (const res of h1Active) {
      if (!res.headersSent) res.shouldKeepAlive = false;
      // Headers already out with keep-alive: the connection turns idle after this response; close it then.
      else res.once("finish", () => setImmediate(() => h1.closeIdleConnections()));
    }
  };

  // TLS: the handshake picks the protocol. The TLS server only wraps sockets; the front server owns accept.
  const secure = opts.tls
    ? tls.createServer({
        cert: opts.tls.cert,
        key: opts.tls.key,
        ALPNProtocols: ["h2", "http/1.1"],
        minVersion: "TLSv1.2",
        handshakeTimeout: opts.sniffTimeoutMs ?? 10_000,
      })
    : undefined;
  secure?.on("secureConnection", (socket: tls.TLSSocket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    (socket.alpnProtocol === "h2" ? h2 : h1).emit("connection", socket);
  });
  // A failed handshake (a cleartext client, an untrusted certificate) only concerns that connection.
  secure?.on("tlsClientError", (_err, socket) => socket.destroy());

  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      unsniffed.delete(socket);
    });
    // Resets before hand-over would otherwise be unhandled 'error' events; after it, the HTTP servers handle them.
    socket.on("error", () => {});
    if (secure) {
      secure.emit("connection", socket);
      return;
    }
    unsniffed.add(socket);
    const silent = (): void => void socket.destroy();
    socket.setTimeout(opts.sniffTimeoutMs ?? 10_000, silent);
    let head = Buffer.alloc(0);
    const sniff = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      // Three bytes tell "PRI" (HTTP/2 preface) from every HTTP/1.1 method, including POST, PUT and PATCH.
      if (head.length < 3) return;
      socket.off("data", sniff);
      socket.setTimeout(0);
      socket.off("timeout", silent);
      unsniffed.delete(socket);
      socket.pause();
      socket.unshift(head);
      (head.subarray(0, 3).toString("latin1") === "PRI" ? h2 : h1).emit("connection", socket);
      process.nextTick(() => socket.resume());
    };
    socket.on("data", sniff);
  });
  if (opts.maxConnections !== undefined) front.maxConnections = opts.maxConnections;
  front.on("drop", () => opts.onConnectionRefused?.());

  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(opts.port, opts.host, () => {
      front.off("error", reject);
      resolve();
    });
  });
  const address = front.address();
  const port = typeof address === "object" && address !== null ? address.port : opts.port;

  let closed: Promise<void> | undefined;
  const close = (graceMs: number, onGraceExpired?: () => void, forceAfterMs = 500): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      closing = true;
      const timers: NodeJS.Timeout[] = [];
      // net.Server's callback fires once every connection it accepted has closed, whichever server served it.
      front.close(() => {
        for (const t of timers) clearTimeout(t);
        resolve();
      });
      for (const s of unsniffed) s.destroy();
      for (const s of sessions) s.close();
      drainH1();
      timers.push(
        setTimeout(() => {
          onGraceExpired?.();
          timers.push(
            setTimeout(() => {
              for (const s of sessions) s.destroy();
              for (const s of sockets) s.destroy();
            }, forceAfterMs),
          );
        }, graceMs),
      );
    });
    return closed;
  };

  return { port, close };
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

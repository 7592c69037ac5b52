/**
 * Connecting to NATS with the options a long-running service needs: reconnect forever (authorization errors
 * included, with the credential file read again at each attempt), a named connection, and
 * the operator's choice of authentication (a creds file, or an NKey seed whose private key never leaves this
 * process) and TLS (a CA to verify the server, a client certificate for mutual TLS). Any TLS option makes TLS
 * required: the connection fails rather than falling back to cleartext.
 *
 * User info in NATS_URL is taken as the nats CLI takes it: `nats://user:pass@host` is a user and password,
 * `nats://token@host` a token. nats.js itself ignores it (the server then answers "Authorization Violation"), so
 * it is moved from the URLs into connection options here, and the URLs kept for messages carry none.
 */
import { connect, credsAuthenticator, nkeyAuthenticator, type NatsConnection, type TlsOptions } from "@nats-io/transport-node";
import { readFileSync } from "node:fs";
import type { Config } from "../config.js";
import { withoutUserinfo } from "../url-userinfo.js";

export interface NatsTlsOptions {
  /** PEM CA bundle that signs the server's certificate (absent: the system's trusted CAs). */
  readonly caFile?: string;
  /** PEM client certificate and key, for servers that verify clients (nats-server --tlsverify). */
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface NatsConnectOptions {
  /** Comma-separated URLs; user info in them is used as below and never shown. */
  readonly servers: string;
  readonly name?: string;
  readonly credsFile?: string;
  /** File holding an NKey user seed ("SU..."). */
  readonly nkeySeedFile?: string;
  readonly tls?: NatsTlsOptions;
}

type NatsConfig = Pick<Config, "natsCreds" | "natsNkeySeedFile" | "natsTlsCaFile" | "natsTlsCertFile" | "natsTlsKeyFile">;

/** The NATS_* authentication and TLS variables as connect options (the service and the inspect CLI alike). */
export function natsConnectOptions(config: NatsConfig, servers: string, name?: string): NatsConnectOptions {
  const tls: NatsTlsOptions = {
    ...(config.natsTlsCaFile ? { caFile: config.natsTlsCaFile } : {}),
    ...(config.natsTlsCertFile ? { certFile: config.natsTlsCertFile } : {}),
    ...(config.natsTlsKeyFile ? { keyFile: config.natsTlsKeyFile } : {}),
  };
  return {
    servers,
    ...(name ? { name } : {}),
    ...(config.natsCreds ? { credsFile: config.natsCreds } : {}),
    ...(config.natsNkeySeedFile ? { nkeySeedFile: config.natsNkeySeedFile } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
}

export type UrlCredentials = { readonly user: string; readonly pass: string } | { readonly token: string } | undefined;

/**
 * The user info of the first URL that has some, percent-decoded (config.ts requires every URL to carry the same),
 * and the URLs without it.
 */
export function splitUrlCredentials(servers: string): { servers: string[]; credentials: UrlCredentials } {
  let credentials: UrlCredentials;
  const bare = servers.split(",").map((entry) => {
    const s = entry.trim();
    const withScheme = /^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      return s; // nats.js reports it; config.ts refuses it before we get here
    }
    if (url.username === "" && url.password === "") return s;
    const user = decodeURIComponent(url.username);
    credentials ??= url.password === "" ? { token: user } : { user, pass: decodeURIComponent(url.password) };
    url.username = "";
    url.password = "";
    // URL keeps a "/" path the NATS URL did not have; nats.js takes either.
    return url.toString().replace(/\/$/, "");
  });
  return { servers: bare, credentials };
}

/** The first connection failed: names the URL and what to check (start-up prints it without a stack). */
export class NatsUnreachableError extends Error {
  override name = "NatsUnreachableError";
}

export async function connectNats(opts: NatsConnectOptions): Promise<NatsConnection> {
  try {
    return await connectOnce(opts);
  } catch (e) {
    const reason = (e as Error)?.message ?? String(e);
    throw new NatsUnreachableError(
      `NATS_URL=${withoutUserinfo(opts.servers)}: cannot connect (${reason}). Check that nats-server runs there with JetStream (-js), that the ` +
        "host and port are reachable from this machine, and NATS_CREDS / NATS_NKEY_SEED_FILE / NATS_TLS_* if the server requires them.",
      { cause: e },
    );
  }
}

function connectOnce(opts: NatsConnectOptions): Promise<NatsConnection> {
  const { servers, credentials } = splitUrlCredentials(opts.servers);
  return connect({
    servers,
    name: opts.name ?? "event-routing",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // Without this, nats.js builds a RequestError (capturing a stack) for every request, i.e. for every JetStream
    // publish, in case it later fails: 17-27% of the emit path's CPU in a profile (docs/benchmarks.md). What is lost:
    // a failed request's error carries the stack of nats.js's callback instead of the caller's `await` site. Our
    // errors are mapped by type and message (UnavailableError, JetStream API codes), never by stack, so the
    // logs lose only the call site of a NATS timeout, which names its subject anyway.
    noAsyncTraces: true,
    ...(credentials ?? {}),
    // By default nats.js gives up for good after two authorization errors in a row, even with unlimited
    // reconnects: a credential rotated on the server before the file here (or a reload that briefly refuses
    // everyone) would leave the instance up and NOT_SERVING forever. It keeps trying instead, and reads the
    // credential file again on every attempt, so writing the new file is enough to recover.
    ignoreAuthErrorAbort: true,
    ...(opts.credsFile ? { authenticator: credsAuthenticator(rereading(opts.credsFile, readFileSync)) } : {}),
    ...(opts.nkeySeedFile ? { authenticator: nkeyAuthenticator(rereading(opts.nkeySeedFile, readSeed)) } : {}),
    ...(opts.tls ? { tls: tlsOptions(opts.tls) } : {}),
  });
}

/**
 * The file's contents now (a missing or unreadable file stops start-up with its path in the error), and again at
 * every connect; a read that fails later (the file being replaced) keeps the last contents read.
 */
function rereading(file: string, read: (file: string) => Uint8Array): () => Uint8Array {
  let last = read(file);
  return () => {
    try {
      last = read(file);
    } catch {
      // Keep the last good contents.
    }
    return last;
  };
}

/** The seed as nkeys wants it: the text without the newline an editor adds. */
function readSeed(file: string): Uint8Array {
  return new TextEncoder().encode(readFileSync(file, "utf8").trim());
}

/** Files are read here, once, so a missing or unreadable file stops start-up with its path in the error. */
function tlsOptions(t: NatsTlsOptions): TlsOptions {
  return {
    ...(t.caFile ? { ca: readFileSync(t.caFile, "utf8") } : {}),
    ...(t.certFile ? { cert: readFileSync(t.certFile, "utf8") } : {}),
    ...(t.keyFile ? { key: readFileSync(t.keyFile, "utf8") } : {}),
  };
}

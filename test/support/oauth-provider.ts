/**
 * A real OAuth 2 authorization server for delivery tests, and an LRS that accepts only the tokens it issued:
 * - startOAuthProvider: node-oidc-provider (oauth-provider-child.ts) as a child process on a random 127.0.0.1
 *   port, issuing short-lived opaque tokens (client credentials grant) for one resource. restart() brings it back
 *   on the same port with other clients (a revoked client, a rotated secret); stop() takes it away (the token
 *   endpoint unreachable). Killed on process exit.
 * - IntrospectingLrs: an xAPI statements endpoint that validates every bearer token by calling the provider's
 *   introspection endpoint (RFC 7662) with its own client credentials, and accepts a request only when the token is
 *   active, for its resource (aud) and carries the scope it needs; otherwise 401 with WWW-Authenticate (RFC 6750).
 *   It records what it stored and every answer it gave; GET /about answers (xAPI's version list) to a valid token.
 */
import { spawn, type ChildProcess } from "node:child_process";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const CHILD = join(dirname(fileURLToPath(import.meta.url)), "oauth-provider-child.ts");

export interface OAuthClient {
  readonly clientId: string;
  readonly clientSecret: string;
}

export interface OAuthProviderOptions {
  readonly clients: readonly OAuthClient[];
  /** The resource (audience) tokens are issued for. */
  readonly resource: string;
  readonly scope: string;
  readonly tokenTtlSeconds: number;
}

export interface OAuthProvider {
  readonly issuer: string;
  readonly tokenUrl: string;
  readonly introspectionUrl: string;
  /**
   * Stops the provider and starts it again on the same port, with `changes` to its options (other clients: a
   * revoked client, a rotated secret); the tokens it issued are forgotten.
   */
  restart(changes?: Partial<OAuthProviderOptions>): Promise<void>;
  /** Stops it: the token endpoint refuses connections until restart(). */
  stop(): Promise<void>;
  close(): Promise<void>;
}

export async function startOAuthProvider(initial: OAuthProviderOptions): Promise<OAuthProvider> {
  let child: ChildProcess | undefined;
  let port = 0;
  let opts = initial;
  const kill = () => child?.kill("SIGKILL");
  process.once("exit", kill);
  const spawnChild = async (): Promise<void> => {
    const c = spawn(process.execPath, ["--import", "tsx", CHILD], {
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      env: { ...process.env, OAUTH_PROVIDER_CONFIG: JSON.stringify({ ...opts, port }) },
    });
    child = c;
    let stderr = "";
    c.stderr?.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`OAuth provider did not start in 30 s: ${stderr}`)), 30_000);
      c.on("message", (m: { oauthPort?: number }) => {
        if (!m.oauthPort) return;
        clearTimeout(timer);
        resolve(m.oauthPort);
      });
      c.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`OAuth provider exited (${code}): ${stderr}`));
      });
    });
  };
  const stopChild = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill("SIGTERM");
    await exited;
  };
  await spawnChild();
  const issuer = `http://127.0.0.1:${port}`;
  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    introspectionUrl: `${issuer}/token/introspection`,
    async restart(changes = {}) {
      await stopChild();
      opts = { ...opts, ...changes };
      await spawnChild();
    },
    stop: stopChild,
    async close() {
      await stopChild();
      process.removeListener("exit", kill);
    },
  };
}

export interface LrsAnswer {
  readonly at: number;
  readonly status: number;
  /** Why a token was refused (the introspection result), for failure messages. */
  readonly why?: string;
}

export class IntrospectingLrs {
  /** Statement id -> times stored. */
  readonly stored = new Map<string, number>();
  readonly answers: LrsAnswer[] = [];
  /** Every distinct access token accepted. */
  readonly tokensAccepted = new Set<string>();

  private constructor(
    private readonly server: http.Server,
    private readonly check: { introspectionUrl: string; lrsClient: OAuthClient; resource: string; scope: string },
  ) {}

  static async start(check: IntrospectingLrs["check"]): Promise<IntrospectingLrs> {
    let lrs: IntrospectingLrs | undefined;
    const server = http.createServer((req, res) => void lrs!.handle(req, res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    lrs = new IntrospectingLrs(server, check);
    return lrs;
  }

  /** The router's endpoint_url (the LRS base URL). */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/xapi`;
  }

  refusals(): LrsAnswer[] {
    return this.answers.filter((a) => a.status === 401);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const verdict = token ? await this.introspect(token) : "no bearer token";
    if (verdict !== undefined) {
      this.answers.push({ at: Date.now(), status: 401, why: verdict });
      res.writeHead(401, { "WWW-Authenticate": 'Bearer error="invalid_token"', "Content-Type": "application/json" });
      res.end(JSON.stringify({ error: "invalid_token", why: verdict }));
      return;
    }
    this.tokensAccepted.add(token!);
    if (req.method === "GET" && req.url?.endsWith("/about")) {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ version: ["1.0.3"] }));
      return;
    }
    const statements = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Array<{ id: string }>;
    for (const s of statements) this.stored.set(s.id, (this.stored.get(s.id) ?? 0) + 1);
    this.answers.push({ at: Date.now(), status: 200 });
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify(statements.map((s) => s.id)));
  }

  /** undefined when the provider says the token is active, for this resource, with the scope; else why not. */
  private async introspect(token: string): Promise<string | undefined> {
    const { introspectionUrl, lrsClient, resource, scope } = this.check;
    const basic = Buffer.from(`${lrsClient.clientId}:${lrsClient.clientSecret}`).toString("base64");
    let r: Response;
    try {
      r = await fetch(introspectionUrl, {
        method: "POST",
        headers: { Authorization: `Basic ${basic}`, "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token }).toString(),
      });
    } catch (e) {
      return `introspection failed: ${(e as Error).message}`;
    }
    if (!r.ok) return `introspection answered ${r.status}`;
    const info = (await r.json()) as { active?: boolean; aud?: string | string[]; scope?: string };
    if (info.active !== true) return "inactive token";
    const aud = Array.isArray(info.aud) ? info.aud : [info.aud];
    if (!aud.includes(resource)) return `token for ${JSON.stringify(info.aud)}, not ${resource}`;
    if (!(info.scope ?? "").split(" ").includes(scope)) return `token without scope ${scope}`;
    return undefined;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

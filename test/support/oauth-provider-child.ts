/**
 * The OAuth 2 authorization server of test/support/oauth-provider.ts, in its own process: node-oidc-provider
 * (npm oidc-provider, a certified OpenID Provider implementation) with the client credentials grant, resource
 * indicators (RFC 8707) and token introspection (RFC 7662) turned on, issuing opaque access tokens with a short
 * lifetime for one resource. Its configuration comes as JSON in OAUTH_PROVIDER_CONFIG; it listens on 127.0.0.1
 * (on the given port, or a free one) and reports the port over IPC. Tokens live in the provider's memory, so a
 * restarted provider knows none of the tokens it issued before.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import Provider, { errors } from "oidc-provider";

interface ChildConfig {
  readonly port: number;
  readonly clients: ReadonlyArray<{ readonly clientId: string; readonly clientSecret: string }>;
  readonly resource: string;
  readonly scope: string;
  readonly tokenTtlSeconds: number;
}

const config = JSON.parse(process.env["OAUTH_PROVIDER_CONFIG"] ?? "{}") as ChildConfig;
const server = http.createServer();
await new Promise<void>((resolve) => server.listen(config.port, "127.0.0.1", resolve));
const { port } = server.address() as AddressInfo;

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: config.clients.map((c) => ({
    client_id: c.clientId,
    client_secret: c.clientSecret,
    grant_types: ["client_credentials"],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: "client_secret_basic",
  })),
  scopes: config.scope.split(" "),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => config.resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx: unknown, indicator: string) => {
        if (indicator !== config.resource) throw new errors.InvalidTarget();
        return { scope: config.scope, audience: indicator, accessTokenTTL: config.tokenTtlSeconds, accessTokenFormat: "opaque" };
      },
    },
  },
});
server.on("request", provider.callback());
process.send?.({ oauthPort: port });

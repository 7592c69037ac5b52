/**
 * The console's clients: the existing RPCs over Connect (JSON) on the page's own origin, with the admin token in
 * the Authorization header of every call. The token lives in sessionStorage only (gone when the tab closes; never
 * in a URL or a cookie, so no other site can send it).
 */
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { EventRoutingService } from "../../gen/eventrouting/v1/event_routing_service_pb.js";
import { IngestAdminService } from "../../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { LearnerAdminService } from "../../gen/eventrouting/v1/learner_admin_service_pb.js";
import { MappingAdminService } from "../../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { RouterAdminService } from "../../gen/eventrouting/v1/router_admin_service_pb.js";

const TOKEN_KEY = "event-routing.console.admin-token";

export interface Api {
  readonly routers: Client<typeof RouterAdminService>;
  readonly events: Client<typeof EventRoutingService>;
  readonly ingest: Client<typeof IngestAdminService>;
  readonly learners: Client<typeof LearnerAdminService>;
  readonly mappings: Client<typeof MappingAdminService>;
}

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token: string): void => sessionStorage.setItem(TOKEN_KEY, token),
  signOut: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

export function createApi(token: () => string | null, onSignedOut: () => void): Api {
  const auth: Interceptor = (next) => async (req) => {
    const t = token();
    if (t) req.header.set("authorization", `Bearer ${t}`);
    try {
      return await next(req);
    } catch (e) {
      // A token revoked while the page is open: back to the sign-in form instead of failing every panel.
      if (ConnectError.from(e).code === Code.Unauthenticated) onSignedOut();
      throw e;
    }
  };
  const transport = createConnectTransport({ baseUrl: window.location.origin, interceptors: [auth] });
  return {
    routers: createClient(RouterAdminService, transport),
    events: createClient(EventRoutingService, transport),
    ingest: createClient(IngestAdminService, transport),
    learners: createClient(LearnerAdminService, transport),
    mappings: createClient(MappingAdminService, transport),
  };
}

export interface DescribedError {
  readonly message: string;
  /** Field-level messages from InvalidArgument ("router.endpoint_url: expected ..."), keyed by the path after the root. */
  readonly field?: { readonly path: string; readonly message: string };
}

/** What an operator should read for a failed call. */
export function describeError(e: unknown): DescribedError {
  const err = ConnectError.from(e);
  switch (err.code) {
    case Code.PermissionDenied:
      return { message: "This token may only emit events. Sign in with an admin token (one of ADMIN_TOKENS)." };
    case Code.Unauthenticated:
      return { message: "The token was not accepted. Check it against ADMIN_TOKENS." };
    case Code.InvalidArgument: {
      const m = /^([a-z_][\w.[\]"-]*): (.*)$/s.exec(err.rawMessage);
      if (m) return { message: err.rawMessage, field: { path: m[1]!.replace(/^(router|mapping)\.?/, ""), message: m[2]! } };
      return { message: err.rawMessage };
    }
    case Code.Aborted:
      return { message: `${err.rawMessage}. Someone changed it meanwhile: reload and try again.` };
    case Code.Unavailable:
      return { message: `The service is unavailable (${err.rawMessage}); try again.` };
    default:
      return { message: err.rawMessage || err.message };
  }
}

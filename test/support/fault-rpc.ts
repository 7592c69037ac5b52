/**
 * The fault suite's calls to the running service, through its public RPCs only (the service is another process):
 * create a router for one scenario and wait until the emit path routes to it, read the failed stream, and wait
 * until a router's consumer has nothing pending or in flight.
 */
import { create } from "@bufbuild/protobuf";
import { Backend, EventInputSchema } from "../../gen/eventrouting/v1/event_pb.js";
import type { ExhaustedStatements } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { faultEvents, scenarioMatch } from "./fault-load.js";
import { waitUntil } from "./http-endpoints.js";
import { authed, type ServiceClients } from "./service-process.js";

export const ms = (n: number) => ({ seconds: BigInt(Math.floor(n / 1000)), nanos: (n % 1000) * 1_000_000 });

export interface RouterTimings {
  readonly batchSize: number;
  readonly batchIntervalMs: number;
  readonly maxRetries: number;
  readonly countdownMs: number;
  readonly httpTimeoutMs: number;
  /** Which exhausted statements are kept; unset = the service default (every one). */
  readonly exhausted?: ExhaustedStatements;
}

/** An xAPI router taking only `scenario`'s events; resolves once Emit would route to it. */
export async function createScenarioRouter(
  c: ServiceClients,
  id: string,
  endpointUrl: string,
  scenario: string,
  t: RouterTimings,
): Promise<void> {
  await c.admin.createRouter(
    {
      router: {
        id,
        backend: Backend.XAPI,
        endpointUrl,
        enabled: true,
        matchParams: scenarioMatch(scenario),
        delivery: {
          batchSize: t.batchSize,
          batchInterval: ms(t.batchIntervalMs),
          maxRetries: t.maxRetries,
          countdown: ms(t.countdownMs),
          httpTimeout: ms(t.httpTimeoutMs),
          ...(t.exhausted !== undefined ? { exhausted: t.exhausted } : {}),
        },
      },
    },
    authed,
  );
  const probe = create(EventInputSchema, { event: { case: "json", value: faultEvents(scenario, 1)[0]!.json } });
  await waitUntil(
    async () => {
      const r = await c.events.transform({ event: probe }, authed);
      return r.outputs.some((o) => o.routerIds.includes(id));
    },
    10_000,
    `router ${id} visible to the emit path`,
  );
  await waitUntil(
    async () =>
      await c.admin.getRouterStatus({ id }, authed).then(
        () => true,
        () => false,
      ),
    10_000,
    `router ${id} has a delivery consumer`,
  );
}

/** Statement ids in the failed stream for one router (every page). */
export async function failedIds(c: ServiceClients, routerId: string): Promise<Set<string>> {
  const out = new Set<string>();
  let pageToken = "";
  do {
    const page = await c.events.listFailed({ filter: { routerId }, pageSize: 1000, pageToken }, authed);
    for (const f of page.failed) out.add(f.statementId);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

/** Nothing waiting and nothing in flight for the router (shared JetStream state, so any instance can answer). */
export async function routerIdle(c: ServiceClients, routerId: string): Promise<boolean> {
  try {
    const [s] = (await c.admin.getRouterStatus({ id: routerId }, authed)).statuses;
    return s !== undefined && s.pending === 0n && s.inFlight === 0n;
  } catch {
    return false;
  }
}

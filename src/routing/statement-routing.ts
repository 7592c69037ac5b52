/**
 * Decides where each statement goes: every enabled router of the statement's backend whose match_params accept
 * the ORIGINAL event gets one message on its delivery subject. Pure; publishing is statement-publisher.ts.
 */
import type { MsgHdrs } from "@nats-io/transport-node";
import type { NatsNames } from "../nats/names.js";
import type { EdxEvent, JsonObject } from "../transform/edx-event.js";
import type { BackendName } from "../transform/registry.js";
import { deliveryHeaders } from "./delivery-message.js";
import { compiledMatchFor, matchesEvent } from "./match-params.js";
import type { RouterConfig } from "./router-model.js";

export interface DeliveryMessage {
  readonly routerId: string;
  readonly statementId: string;
  readonly subject: string;
  readonly msgId: string;
  readonly headers: MsgHdrs;
  readonly body: string;
}

/** Routers that take an event for a backend. */
export function matchingRouters(routers: readonly RouterConfig[], backend: BackendName, event: EdxEvent): RouterConfig[] {
  return routers.filter((r) => r.enabled && r.backend === backend && matchesEvent(compiledMatchFor(r), event));
}

/**
 * One message per statement per router. xAPI statements get the router's override_args merged at their root
 * (ERB: `statement.update(override_args)`); Caliper override_args apply to the envelope, at delivery time.
 */
export function deliveryMessages(
  names: NatsNames,
  backend: BackendName,
  event: EdxEvent,
  statements: readonly JsonObject[],
  routers: readonly RouterConfig[],
): DeliveryMessage[] {
  const out: DeliveryMessage[] = [];
  for (const router of routers) {
    const override = backend === "xapi" && Object.keys(router.overrideArgs).length > 0 ? router.overrideArgs : undefined;
    for (const statement of statements) {
      const statementId = String(statement["id"]);
      out.push({
        routerId: router.id,
        statementId,
        subject: names.deliverSubject(router.id),
        msgId: names.deliveryMsgId(router.id, statementId),
        headers: deliveryHeaders({ routerId: router.id, eventName: event.name, statementId, backend }),
        body: JSON.stringify(override ? { ...statement, ...override } : statement),
      });
    }
  }
  return out;
}

/**
 * The format of a message on the delivery subject: the body is the statement JSON (xAPI statement with the
 * router's override_args merged; Caliper event without envelope), headers carry what delivery needs to decide
 * without parsing the body. The failed stream reuses the body and these headers and adds failure headers
 * (delivery/failed-codec.ts). The Er-* delivery headers are built and read here only, so the emit path, the
 * failed stream and RetryFailed cannot drift apart.
 */
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";

export const HDR_ROUTER_ID = "Er-Router-Id";
export const HDR_EVENT_NAME = "Er-Event-Name";
export const HDR_STATEMENT_ID = "Er-Statement-Id";
export const HDR_BACKEND = "Er-Backend";

export interface DeliveryMessageMeta {
  readonly routerId: string;
  readonly eventName: string;
  readonly statementId: string;
  readonly backend: "xapi" | "caliper";
}

/** The delivery headers as read back: any header may be missing (""), and the backend is not checked. */
export interface DeliveryHeaderFields {
  readonly routerId: string;
  readonly eventName: string;
  readonly statementId: string;
  readonly backend: string;
}

export function deliveryHeaders(meta: DeliveryHeaderFields): MsgHdrs {
  const h = natsHeaders();
  h.set(HDR_ROUTER_ID, meta.routerId);
  h.set(HDR_EVENT_NAME, meta.eventName);
  h.set(HDR_STATEMENT_ID, meta.statementId);
  h.set(HDR_BACKEND, meta.backend);
  return h;
}

export function readDeliveryHeaders(h: MsgHdrs | undefined): DeliveryHeaderFields {
  return {
    routerId: h?.get(HDR_ROUTER_ID) ?? "",
    eventName: h?.get(HDR_EVENT_NAME) ?? "",
    statementId: h?.get(HDR_STATEMENT_ID) ?? "",
    backend: h?.get(HDR_BACKEND) ?? "",
  };
}

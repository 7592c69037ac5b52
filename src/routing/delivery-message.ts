/**
 * The format of a message on the delivery subject: the body is the statement JSON (xAPI statement with the
 * router's override_args merged; Caliper event without envelope), headers carry what delivery needs to decide
 * without parsing the body. The failed stream reuses the body and adds failure headers (see delivery/).
 */
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

/**
 * Delivery progress per router, as reported by the delivery engine of this instance. Defined here (not in
 * delivery/) so the admin service depends on an interface only; the delivery engine implements it
 * (delivery/status/router-status-provider.ts).
 */

/** What a router's delivery is doing, as seen by the answering instance (proto RouterState). */
export type RouterState = "active" | "disabled" | "paused" | "failing" | "unhealthy" | "not_running_here";

export interface RouterStatus {
  readonly routerId: string;
  /** Statements waiting for their first delivery. */
  readonly pending: number;
  /** Delivered but not yet acknowledged. */
  readonly inFlight: number;
  /** Currently waiting for a redelivery. */
  readonly redelivered: number;
  /** Delivered since this instance started (per-instance counter). */
  readonly delivered: number;
  /** Exhausted since this instance started (per-instance counter): stored in the failed stream plus `dropped`. */
  readonly failed: number;
  /** Of `failed`: non-critical statements dropped (logged with ids), not kept; absent where unknown. */
  readonly dropped?: number;
  /** Currently kept in the failed stream for this router. */
  readonly failedStored: number;
  /** Non-critical failed statements this instance discarded (FAILED_MAX_BYTES); absent = 0. */
  readonly discarded?: number;
  readonly lastError?: string;
  readonly lastErrorTime?: Date;
  readonly lastSuccessTime?: Date;
  /** Absent from providers that do not know it (UNSPECIFIED on the wire). */
  readonly state?: RouterState;
  /** Why the router is paused, failing or unhealthy (redacted); absent otherwise. */
  readonly stateReason?: string;
  /** Storage time of the oldest statement not yet acknowledged; absent when nothing waits. */
  readonly oldestPendingTime?: Date;
  /** When the delivery stream's age limit removes that statement; absent when nothing waits. */
  readonly oldestPendingExpireTime?: Date;
}

export interface RouterStatusProvider {
  /**
   * Status of one router (routerId given) or of every router this instance delivers for. Implementations throw
   * NotFoundError for an unknown router id and UnavailableError when NATS does not answer.
   */
  status(routerId?: string): Promise<RouterStatus[]>;
}

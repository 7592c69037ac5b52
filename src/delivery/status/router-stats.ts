/**
 * Per-instance delivery counters and observed state for one router (GetRouterStatus). Owned by a Delivery
 * instance, never global, so two instances in one process (tests) or a restart do not share or leak numbers.
 * The state fields are written by the router's worker and consumer manager and read by router-status-provider.ts.
 */
export class RouterStats {
  delivered = 0;
  /** Exhausted or refused statements stored in the failed stream (every one, or the critical ones: ExhaustedPolicy). */
  failed = 0;
  /** Exhausted or refused statements of non-critical events dropped at once (a router keeping critical ones only). */
  dropped = 0;
  /** Non-critical statements discarded from the failed stream (over FAILED_MAX_BYTES) by this instance. */
  discarded = 0;
  lastError: string | undefined;
  lastErrorTime: Date | undefined;
  lastSuccessTime: Date | undefined;
  /** Set while the worker holds the router PAUSED: the endpoint refused the router itself (redacted answer). */
  paused: { readonly reason: string; readonly since: Date } | undefined;
  /** Set while this instance cannot deliver for the router (consumer missing and not recreatable, JetStream refusal). */
  unhealthy: string | undefined;
  /** The last attempt failed and none succeeded since (FAILING). */
  failing = false;

  recordSuccess(n: number, at = new Date()): void {
    this.delivered += n;
    this.lastSuccessTime = at;
    this.failing = false;
  }

  recordError(error: string, at = new Date()): void {
    this.lastError = error;
    this.lastErrorTime = at;
  }

  /** A worker stopped: what it observed no longer describes the router (`unhealthy` goes through the registry). */
  clearState(): void {
    this.paused = undefined;
    this.failing = false;
  }
}

export class StatsRegistry {
  private readonly byRouter = new Map<string, RouterStats>();
  private readonly listeners = new Set<() => void>();

  for(routerId: string): RouterStats {
    let s = this.byRouter.get(routerId);
    if (!s) {
      s = new RouterStats();
      this.byRouter.set(routerId, s);
    }
    return s;
  }

  peek(routerId: string): RouterStats | undefined {
    return this.byRouter.get(routerId);
  }

  delete(routerId: string): void {
    this.byRouter.delete(routerId);
    this.changed();
  }

  /** Routers this instance cannot deliver for, with the reason (gRPC health: server/health.ts). */
  unhealthy(): Map<string, string> {
    return new Map([...this.byRouter].filter(([, s]) => s.unhealthy !== undefined).map(([id, s]) => [id, s.unhealthy!]));
  }

  /** Sets or clears a router's unhealthy reason and tells the listeners when it changed. */
  setUnhealthy(routerId: string, reason: string | undefined): void {
    const s = this.for(routerId);
    if (s.unhealthy === reason) return;
    s.unhealthy = reason;
    this.changed();
  }

  onUnhealthyChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}

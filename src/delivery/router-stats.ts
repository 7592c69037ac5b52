/**
 * Per-instance delivery counters for one router (GetRouterStatus). Owned by a Delivery instance, never global,
 * so two instances in one process (tests) or a restart do not share or leak numbers.
 */
export class RouterStats {
  delivered = 0;
  /** Exhausted or refused statements of critical events, stored in the failed stream. */
  failed = 0;
  /** Exhausted or refused statements of non-critical events, dropped (logged with ids). */
  dropped = 0;
  lastError: string | undefined;
  lastErrorTime: Date | undefined;
  lastSuccessTime: Date | undefined;

  recordSuccess(n: number, at = new Date()): void {
    this.delivered += n;
    this.lastSuccessTime = at;
  }

  recordError(error: string, at = new Date()): void {
    this.lastError = error;
    this.lastErrorTime = at;
  }
}

export class StatsRegistry {
  private readonly byRouter = new Map<string, RouterStats>();

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
  }
}

/**
 * Size-or-time batching: a batch is released when it holds `maxSize` items or when `intervalMs` has passed since
 * its first item, whichever comes first. The timer is what ERB lacks (it only checks when a new event arrives,
 * so a quiet period strands the tail of a batch). maxSize 1 = batching off.
 */
export class Batcher<T> {
  private items: T[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxSize: number,
    private readonly intervalMs: number,
    private readonly onBatch: (items: T[]) => void,
  ) {}

  add(item: T): void {
    this.items.push(item);
    if (this.items.length >= this.maxSize) {
      this.flush();
      return;
    }
    if (!this.timer) this.timer = setTimeout(() => this.flush(), this.intervalMs);
  }

  /** Releases whatever is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.items.length === 0) return;
    const batch = this.items;
    this.items = [];
    this.onBatch(batch);
  }

  /** Takes the pending items without releasing them (shutdown: they are handed back to JetStream). */
  take(): T[] {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.items;
    this.items = [];
    return batch;
  }

  get size(): number {
    return this.items.length;
  }
}

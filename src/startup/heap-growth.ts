/**
 * How far V8 lets the old generation grow past what the last full GC left alive.
 *
 * Under load the service's live heap is small (30-40 MiB after a full GC in the five-router EmitBatch benchmark),
 * but every call lives for tens of milliseconds while it awaits its PubAcks, so its objects survive scavenges and
 * are promoted. V8 picks a growth factor of up to 4x when full GCs are cheap, which they are here, so the old
 * generation was let grow to ~130 MiB of mostly garbage before each full GC and the process peaked at 240-268 MiB.
 * Capped at 2x (100%), full GCs run about twice as often (each ~8 ms of pause plus ~10 ms of incremental marking
 * per ~1.5 s of load) and the peak is ~175 MiB (docs/operations.md, "Memory"). Issue 26's 200 MiB on Node 24 took
 * it to 1.5x (50%): with two malloc arenas, single Emit peaked at 184 MiB instead of 207, one-router EmitBatch at
 * 190 instead of 198, and neither's ratio moved beyond the noise.
 *
 * The flag is read by V8 each time it sizes the heap after a full GC, so setting it at start-up takes effect from
 * the first one. An operator who wants another value passes it to node (`node --heap-growing-percent=N
 * dist/main.js`, or 0 for V8's own choice); that one is kept. The young generation's size cannot be changed this
 * late, so its flag is on the start command instead (docs/operations.md, "Memory").
 */
import v8 from "node:v8";

export const HEAP_GROWING_PERCENT = 50;

/** The V8 flag to set, or undefined when node was already given one on its command line or in NODE_OPTIONS. */
export function heapGrowthFlag(execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  const given = (arg: string) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg);
  if (execArgv.some(given) || (nodeOptions ?? "").split(/\s+/).some(given)) return undefined;
  return `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

export function limitHeapGrowth(proc: Pick<NodeJS.Process, "execArgv" | "env"> = process): void {
  const flag = heapGrowthFlag(proc.execArgv, proc.env["NODE_OPTIONS"]);
  if (flag) v8.setFlagsFromString(flag);
}

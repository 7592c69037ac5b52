/**
 * The live set of routers. Implemented by the KV-backed RouterStore; the emit pipeline reads `list()` on every
 * event (no I/O), delivery subscribes to changes to create, update and remove consumers.
 */
import type { RouterConfig } from "./router-model.js";

export type RouterChange =
  | { readonly kind: "put"; readonly router: RouterConfig; readonly previous?: RouterConfig }
  | { readonly kind: "delete"; readonly id: string; readonly previous?: RouterConfig };

export interface RouterSource {
  /** Current routers (enabled or not), as last seen in the bucket. */
  list(): readonly RouterConfig[];
  get(id: string): RouterConfig | undefined;
  /** Called for every change after the listener is added. Returns an unsubscribe function. */
  subscribe(listener: (change: RouterChange) => void): () => void;
}

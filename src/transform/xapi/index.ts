/** The xAPI transformer registry: every family registers its event names here. */
import { TransformerRegistry } from "../registry.js";
import { registerXapiEnrollmentEvents } from "./enrollment-events.js";

export function createXapiRegistry(): TransformerRegistry {
  const registry = new TransformerRegistry("xapi");
  registerXapiEnrollmentEvents(registry);
  return registry;
}

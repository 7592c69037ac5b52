/** The Caliper transformer registry: every family registers its event names here. */
import { TransformerRegistry } from "../registry.js";
import { registerCaliperEnrollmentEvents } from "./enrollment-events.js";

export function createCaliperRegistry(): TransformerRegistry {
  const registry = new TransformerRegistry("caliper");
  registerCaliperEnrollmentEvents(registry);
  return registry;
}

/** The Caliper transformer registry: every family registers its event names here (35 names, as ERB). */
import { TransformerRegistry } from "../registry.js";
import { registerCaliperEnrollmentEvents } from "./enrollment-events.js";
import { registerCaliperNavigationEvents } from "./navigation-events.js";
import { registerCaliperProblemEvents } from "./problem-events.js";
import { registerCaliperVideoEvents } from "./video-events.js";

export function createCaliperRegistry(): TransformerRegistry {
  const registry = new TransformerRegistry("caliper");
  registerCaliperEnrollmentEvents(registry);
  registerCaliperNavigationEvents(registry);
  registerCaliperProblemEvents(registry);
  registerCaliperVideoEvents(registry);
  return registry;
}

/** The xAPI transformer registry: every family registers its event names here. */
import { TransformerRegistry } from "../registry.js";
import { registerXapiCompletionEvents } from "./completion-events.js";
import { registerXapiEnrollmentEvents } from "./enrollment-events.js";
import { registerXapiExamEvents } from "./exam-events.js";
import { registerXapiForumEvents } from "./forum-events.js";
import { registerXapiGradingEvents } from "./grading-events.js";
import { registerXapiNavigationEvents } from "./navigation-events.js";
import { registerXapiProblemEvents } from "./problem-events.js";
import { registerXapiVideoEvents } from "./video-events.js";

export function createXapiRegistry(): TransformerRegistry {
  const registry = new TransformerRegistry("xapi");
  registerXapiEnrollmentEvents(registry);
  registerXapiGradingEvents(registry);
  registerXapiCompletionEvents(registry);
  registerXapiProblemEvents(registry);
  registerXapiNavigationEvents(registry);
  registerXapiVideoEvents(registry);
  registerXapiForumEvents(registry);
  registerXapiExamEvents(registry);
  return registry;
}

/** Shutdown on SIGTERM: first tell load balancers (health NOT_SERVING while the ports still answer), then let calls end. */
import { nonNegativeInt } from "./schemas.js";
import { v } from "./var-spec.js";

export const SHUTDOWN_VARS = {
  shutdownGraceMs: v("SHUTDOWN_GRACE_MS", "10000", "On SIGTERM, how long in-flight calls may finish.", nonNegativeInt),
  shutdownDrainDelayMs: v(
    "SHUTDOWN_DRAIN_DELAY_MS",
    "5000",
    "On SIGTERM, how long health reports NOT_SERVING while the ports still accept calls, so load balancers stop sending traffic before they close (then SHUTDOWN_GRACE_MS).",
    nonNegativeInt,
  ),
};

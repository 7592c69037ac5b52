/**
 * Preloaded into a service process by test/startup.test.ts (`--import`): SIGUSR2 makes the process throw from a
 * timer, i.e. an uncaught error outside any handler, the way a bug would. With CRASH_WITH_ENOENT set, the error is
 * a file-system ENOENT (a file removed while the service runs), which looks like a start-up setting's error.
 */
import { readFileSync } from "node:fs";

process.on("SIGUSR2", () => {
  setImmediate(() => {
    if (process.env["CRASH_WITH_ENOENT"]) readFileSync("/nonexistent/removed-while-running.json");
    throw new Error("injected uncaught error");
  });
});

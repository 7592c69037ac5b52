/**
 * Preloaded into a service process by test/startup.test.ts (`--import`): SIGUSR2 makes the process throw from a
 * timer, i.e. an uncaught error outside any handler, the way a bug would.
 */
process.on("SIGUSR2", () => {
  setImmediate(() => {
    throw new Error("injected uncaught error");
  });
});

/**
 * The statement checks (transform/custom/statement-checks.ts) in a worker thread: compiling the IMS Caliper 1.2
 * schemas with ajv takes one to several seconds of CPU on first use, which on the service's thread would stall
 * every call and the health check for as long. Here it stalls nothing: the service thread sends statements and
 * awaits the problems (statement-validator.ts).
 *
 * Protocol: {id, backend, statements: JsonObject[][]} in; {id, problems: string[][][]} or {id, error} out, one
 * problem list per statement, per group.
 */
import { parentPort } from "node:worker_threads";
import { createStatementChecks } from "../transform/custom/statement-checks.js";
import type { JsonObject } from "../transform/edx-event.js";
import type { BackendName } from "../transform/registry.js";

interface Request {
  readonly id: number;
  readonly backend: BackendName;
  readonly groups: readonly (readonly JsonObject[])[];
}

const checks = createStatementChecks();
parentPort?.on("message", (req: Request) => {
  try {
    const problems = req.groups.map((statements) => statements.map((s) => checks[req.backend](s)));
    parentPort?.postMessage({ id: req.id, problems });
  } catch (e) {
    parentPort?.postMessage({ id: req.id, error: (e as Error).message });
  }
});

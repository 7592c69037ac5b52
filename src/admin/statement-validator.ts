/**
 * Validates statements off the service's event loop: a worker thread (statement-check-worker.ts) started on first
 * use and kept, so only the admin calls that validate (CreateMapping, UpdateMapping, TestMapping) wait for its
 * one-time schema compilation, and Emit, the other RPCs and the health check never do.
 *
 * The worker file is found beside this module under tsx (src/admin/*.ts) and in the build (dist/admin/*.js, an
 * entry point of its own in `npm run build`), whichever of dist/main.js and dist/cli/main.js imported it.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { UnavailableError } from "../errors.js";
import type { JsonObject } from "../transform/edx-event.js";
import type { BackendName } from "../transform/registry.js";

/** Per group of statements, per statement, its problems ("<path>: <what>"); empty lists = valid. */
export type StatementValidator = (backend: BackendName, groups: readonly (readonly JsonObject[])[]) => Promise<string[][][]>;

export interface WorkerValidator {
  readonly validate: StatementValidator;
  close(): Promise<void>;
}

/** Generous: the first call compiles the Caliper schemas, which takes seconds on a busy machine. */
const TIMEOUT_MS = 60_000;

function workerFile(): URL {
  const candidates = [
    "./statement-check-worker.ts",
    "./statement-check-worker.js",
    "./admin/statement-check-worker.js",
    "../admin/statement-check-worker.js",
  ];
  for (const c of candidates) {
    const url = new URL(c, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url;
  }
  throw new Error(`statement-check-worker not found beside ${import.meta.url}`);
}

/**
 * Under tsx (development, tests) the worker is TypeScript, and Node 20 does not carry the loader hooks of
 * `--import tsx` into worker threads: the worker registers tsx itself first. The build's worker is plain JS.
 */
function spawnWorker(file: URL): Worker {
  if (!file.pathname.endsWith(".ts")) return new Worker(file);
  const tsx = import.meta.resolve("tsx/esm/api");
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(file.href)}); });`;
  return new Worker(boot, { eval: true });
}

export function startWorkerValidator(): WorkerValidator {
  let worker: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve: (p: string[][][]) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  const failAll = (e: Error) => {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      p.reject(e);
      pending.delete(id);
    }
  };
  const start = (): Worker => {
    const w = spawnWorker(workerFile());
    w.unref();
    w.on("message", (m: { id: number; problems?: string[][][]; error?: string }) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.problems) p.resolve(m.problems);
      else p.reject(new Error(`statement validation failed: ${m.error ?? "no answer"}`));
    });
    // A worker that dies is started again by the next call; the calls waiting on it fail as Unavailable.
    w.on("error", (e) => failAll(new UnavailableError(`statement validation is unavailable: ${e.message}`)));
    w.on("exit", () => {
      if (worker === w) worker = undefined;
      failAll(new UnavailableError("statement validation is unavailable: its worker stopped"));
    });
    return w;
  };
  return {
    validate(backend, groups) {
      worker ??= start();
      const w = worker;
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new UnavailableError(`statement validation did not answer within ${TIMEOUT_MS / 1000} s`));
        }, TIMEOUT_MS);
        pending.set(id, { resolve, reject, timer });
        w.postMessage({ id, backend, groups });
      });
    },
    async close() {
      const w = worker;
      worker = undefined;
      await w?.terminate();
    },
  };
}

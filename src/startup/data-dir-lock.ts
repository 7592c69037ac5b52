/**
 * One `npm start` per DATA_DIR. Two services on one store directory would each start their own nats-server on it
 * and silently split (or corrupt) the data, so the second refuses, naming the pid that holds the directory.
 *
 * The lock is a file created with O_EXCL holding the owner's pid. A lock whose pid no longer runs (a SIGKILLed
 * service) is stale and taken over, so a crash never needs manual clean-up.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
}

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file if it is still ours; safe to call more than once and from an exit hook. */
  release(): void;
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function acquireDataDirLock(dataDir: string, pid = process.pid): DataDirLock {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "event-routing.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, `${pid}\n`);
      closeSync(fd);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          try {
            if (readFileSync(path, "utf8").trim() === String(pid)) rmSync(path);
          } catch {
            // Already gone.
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = Number.parseInt(readFileSync(path, "utf8"), 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== pid && running(owner)) {
        throw new DataDirLockedError(
          `DATA_DIR=${dataDir} is in use by another event-routing (pid ${owner}, lock ${path}). ` +
            "Stop it first, or give this instance its own DATA_DIR (or NATS_URL to share one NATS server).",
        );
      }
      // Stale (its owner is gone): take it over.
      rmSync(path, { force: true });
    }
  }
  throw new DataDirLockedError(`DATA_DIR=${dataDir}: could not take the lock ${path}`);
}

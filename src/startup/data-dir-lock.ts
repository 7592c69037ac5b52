/**
 * One `npm start` per DATA_DIR. Two services on one store directory would each start their own nats-server on it
 * and silently split (or corrupt) the data, so the second refuses, naming the pid that holds the directory.
 *
 * The lock is an OS object the kernel frees when its holder dies, however it dies (SIGKILL, the OOM killer), so a
 * crash never needs manual clean-up and there is no "stale lock" to take over: on Linux, an abstract unix socket
 * named after the directory's real path. Binding it is atomic, so of two starts at once exactly one wins. (A pid
 * file taken over when its pid is gone is not race-free: two starts can both find it stale, and one then removes
 * the lock the other has just taken.) Abstract sockets live in the network namespace: two containers sharing one
 * volume do not see each other's lock, as they would not see each other's pids either.
 *
 * `event-routing.lock` in the directory keeps the holder's pid for the refusal message and for operators; it is
 * information, not the lock. Where abstract sockets do not exist (macOS, Windows), that file is the lock, created
 * with O_EXCL and taken over when its pid no longer runs (not race-free there; the production targets are Linux).
 */
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join, resolve } from "node:path";

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
}

export interface DataDirLock {
  readonly path: string;
  /** Frees the lock and removes the pid file if it is still ours; safe to call more than once and from an exit hook. */
  release(): void;
}

const PID_FILE = "event-routing.lock";

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function lockedError(dataDir: string, path: string, owner: number | undefined): DataDirLockedError {
  return new DataDirLockedError(
    `DATA_DIR=${dataDir} is in use by another event-routing (pid ${owner ?? "unknown"}, lock ${path}). ` +
      "Stop it first, or give this instance its own DATA_DIR (or NATS_URL to share one NATS server).",
  );
}

function readOwner(path: string): number | undefined {
  try {
    const owner = Number.parseInt(readFileSync(path, "utf8"), 10);
    return Number.isInteger(owner) && owner > 0 ? owner : undefined;
  } catch {
    return undefined;
  }
}

function removeIfOurs(path: string, pid: number): void {
  try {
    if (readFileSync(path, "utf8").trim() === String(pid)) rmSync(path);
  } catch {
    // Already gone.
  }
}

/** The socket name: the directory's real path hashed, so every spelling of one directory takes the same lock. */
export function lockSocketName(dir: string): string {
  return `\0event-routing-data-dir-${createHash("sha256").update(realpathSync(dir)).digest("hex").slice(0, 40)}`;
}

function bind(name: string): Promise<Server | "taken"> {
  const server = createServer((socket) => socket.destroy());
  return new Promise((resolveBind, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => (e.code === "EADDRINUSE" ? resolveBind("taken") : reject(e)));
    server.listen(name, () => {
      // The lock must not keep the process alive on its own.
      server.unref();
      resolveBind(server);
    });
  });
}

export async function acquireDataDirLock(dataDir: string, pid = process.pid): Promise<DataDirLock> {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, PID_FILE);
  if (process.platform !== "linux") return acquirePidFileLock(dataDir, path, pid);
  const server = await bind(lockSocketName(dir));
  if (server === "taken") throw lockedError(dataDir, path, readOwner(path));
  // Ours now: whatever pid the file names (a killed holder's) is overwritten.
  writeFileSync(path, `${pid}\n`);
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      removeIfOurs(path, pid);
      server.close();
    },
  };
}

function acquirePidFileLock(dataDir: string, path: string, pid: number): DataDirLock {
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
          removeIfOurs(path, pid);
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = readOwner(path);
      if (owner !== undefined && owner !== pid && running(owner)) throw lockedError(dataDir, path, owner);
      // Stale (its owner is gone): take it over.
      rmSync(path, { force: true });
    }
  }
  throw new DataDirLockedError(`DATA_DIR=${dataDir}: could not take the lock ${path}`);
}

/**
 * One replay per checkpoint: `FILE.lock`, created exclusively (O_EXCL) before anything is read or sent. Two runs
 * sharing a checkpoint would each save their own view over the other's, so a later run resumes from offsets the
 * other never acknowledged, or skips what it did not send.
 *
 * A lock left by a run that died without releasing it (SIGKILL, the OOM killer) is taken over: on this host when
 * its pid is gone (or is ours: a container's pid numbers repeat), from elsewhere when its heartbeat (the lock's
 * mtime, touched every HEARTBEAT_MS) is older than STALE_MS. Taking over renames the stale lock aside first and
 * checks it is the one judged stale, so two runs taking over at once cannot both win.
 */
import { randomBytes } from "node:crypto";
import { closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { processAlive } from "../../process-alive.js";

const HEARTBEAT_MS = 10_000;
const STALE_MS = 60_000;

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
}

export class CheckpointLockedError extends Error {
  override name = "CheckpointLockedError";
}

function readOwner(path: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as LockOwner;
  } catch {
    return undefined; // gone, or half-written by a run killed while creating it: judged by its age alone
  }
}

function stale(owner: LockOwner | undefined, mtimeMs: number): boolean {
  if (owner && owner.host === hostname()) return owner.pid === process.pid || !processAlive(owner.pid);
  return Date.now() - mtimeMs > STALE_MS;
}

export class CheckpointLock {
  private readonly heartbeat: NodeJS.Timeout;
  private readonly onExit = () => this.release();
  private released = false;

  private constructor(
    private readonly path: string,
    private readonly owner: LockOwner,
  ) {
    // Unref'd: the heartbeat never keeps the process alive; a failed touch is retried on the next beat.
    this.heartbeat = setInterval(() => {
      try {
        utimesSync(this.path, new Date(), new Date());
      } catch {}
    }, HEARTBEAT_MS).unref();
    // A run that ends through process.exit (a second Ctrl-C) still releases it.
    process.on("exit", this.onExit);
  }

  /** Takes the lock for `checkpoint`; throws CheckpointLockedError naming the owner when another run holds it. */
  static acquire(checkpoint: string): CheckpointLock {
    const path = `${checkpoint}.lock`;
    const owner: LockOwner = { pid: process.pid, host: hostname(), token: randomBytes(8).toString("hex") };
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fd = openSync(path, "wx");
        try {
          writeSync(fd, JSON.stringify(owner));
        } finally {
          closeSync(fd);
        }
        return new CheckpointLock(path, owner);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const held = readOwner(path);
      let mtimeMs: number;
      try {
        mtimeMs = statSync(path).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      if (!stale(held, mtimeMs)) {
        const who = held ? `pid ${held.pid} on ${held.host}` : "a run starting now";
        throw new CheckpointLockedError(
          `${checkpoint} is in use by another replay (${who}); wait for it, or pass another --checkpoint (remove ${path} if no replay runs)`,
        );
      }
      const aside = `${path}.${owner.token}.stale`;
      try {
        renameSync(path, aside);
      } catch {
        continue; // another run moved it first
      }
      const moved = readOwner(aside);
      if (moved?.token !== held?.token) {
        // Not the stale lock but a fresh one another run just took: put it back (unless a third run took the path).
        try {
          linkSync(aside, path);
        } catch {}
      }
      unlinkSync(aside);
    }
    throw new CheckpointLockedError(`${checkpoint}: could not take ${path} (other runs keep taking it)`);
  }

  /** Idempotent; removes the lock only while it is still ours. */
  release(): void {
    if (this.released) return;
    this.released = true;
    clearInterval(this.heartbeat);
    process.off("exit", this.onExit);
    if (readOwner(this.path)?.token === this.owner.token) {
      try {
        unlinkSync(this.path);
      } catch {}
    }
  }
}

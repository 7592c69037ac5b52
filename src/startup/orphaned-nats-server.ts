/**
 * A service killed outright (SIGKILL, the OOM killer) cannot stop its embedded nats-server, and nats-server 2.9
 * does not refuse a second server on the same JetStream store: the next start would run two servers on one store
 * and split or corrupt it. So before it starts its own, the start command stops any nats-server still running on
 * the store, found by the ports file every nats-server writes as `<binary>_<pid>.ports` (and removes on a clean
 * exit). The DATA_DIR lock is held by then, so no live service owns such a server.
 *
 * A pid is only signalled when /proc shows a nats-server whose store (`-sd`) is this one: a ports file left by a
 * server that died long ago may name a pid the system has since given to an unrelated process. Without /proc (not
 * Linux) the server cannot be identified, so a live pid is reported to the operator instead of signalled.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { processAlive } from "../process-alive.js";

export class OrphanedNatsServerError extends Error {
  override name = "OrphanedNatsServerError";
}

const PORTS_FILE = /^(.+)_(\d+)\.ports$/;

/** The process's arguments, or undefined when it does not run (a zombie counts as gone). */
function processArgs(pid: number): string[] | undefined {
  try {
    // Field 3 of stat, after the parenthesised command name, is the state; Z is an exited, unreaped process.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return undefined;
  }
}

function servesStore(args: readonly string[], storeDir: string): boolean {
  const sd = args.findIndex((a) => a === "-sd" || a === "--store_dir" || a === "-store_dir");
  return args.some((a) => a.includes("nats-server")) && sd >= 0 && args[sd + 1] === storeDir;
}

async function gone(pid: number, deadline: number): Promise<boolean> {
  while (processArgs(pid) !== undefined) {
    if (Date.now() > deadline) return false;
    // A process that is not our child gives no exit event to await.
    await sleep(50);
  }
  return true;
}

/**
 * Stops every nats-server still serving `storeDir` (SIGTERM, then SIGKILL after `graceMs`) and removes the ports
 * files of servers that are gone. Returns the pids it stopped.
 */
export async function stopOrphanedNatsServers(portsDir: string, storeDir: string, graceMs = 10_000): Promise<number[]> {
  let files: string[];
  try {
    files = readdirSync(portsDir);
  } catch {
    return []; // A fresh DATA_DIR.
  }
  const linux = process.platform === "linux";
  const stopped: number[] = [];
  for (const file of files) {
    const m = PORTS_FILE.exec(file);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid) continue;
    if (!linux) {
      if (processAlive(pid)) {
        throw new OrphanedNatsServerError(
          `a nats-server (pid ${pid}, ${join(portsDir, file)}) may still run on ${storeDir}: stop it, then start again`,
        );
      }
    } else {
      const args = processArgs(pid);
      if (args && servesStore(args, storeDir)) {
        process.kill(pid, "SIGTERM");
        if (!(await gone(pid, Date.now() + graceMs))) {
          process.kill(pid, "SIGKILL");
          if (!(await gone(pid, Date.now() + 5000))) {
            throw new OrphanedNatsServerError(`the orphaned nats-server (pid ${pid}) on ${storeDir} did not stop`);
          }
        }
        stopped.push(pid);
      }
    }
    rmSync(join(portsDir, file), { force: true });
  }
  return stopped;
}

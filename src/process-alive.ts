/**
 * Whether a process with this pid exists, for locks that name their holder (the data-dir lock's orphaned
 * nats-server, replay's checkpoint lock). Signal 0 checks without sending anything; EPERM means it exists but
 * belongs to another user, which is still a live holder.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

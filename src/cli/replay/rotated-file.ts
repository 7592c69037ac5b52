/**
 * Where the file a checkpoint entry was reading went when the log was rotated while replay was not running (or
 * was stopped between the rename and reading the old file's last lines): logrotate renames tracking.log to
 * tracking.log.1 in the same directory and the LMS keeps writing to it until it reopens. Found by device and
 * inode among the input's siblings, confirmed by the fingerprint (inodes are reused). A rotated file that was
 * compressed meanwhile is a new file (use logrotate's `delaycompress`, or name the .gz files as inputs).
 */
import { open, readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { CheckpointEntry } from "./checkpoint.js";
import { matches, readHead } from "./fingerprint.js";

export async function findRotated(inputPath: string, entry: CheckpointEntry): Promise<string | undefined> {
  const dir = dirname(inputPath);
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const path = join(dir, name);
    if (path === inputPath) continue;
    const s = await stat(path).catch(() => undefined);
    if (!s?.isFile() || s.dev !== entry.dev || s.ino !== entry.ino || s.size < entry.offset) continue;
    if (entry.head === undefined) return path;
    const fh = await open(path, "r");
    try {
      if (matches(entry.head, await readHead(fh))) return path;
    } finally {
      await fh.close();
    }
  }
  return undefined;
}

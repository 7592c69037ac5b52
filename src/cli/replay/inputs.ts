/**
 * Which inputs a replay reads, from its positional arguments: files, directories (every file below, recursively),
 * glob patterns, and `-` for stdin. Gzip is recognised by its magic bytes, not the name, because rotated logs are
 * not always named .gz. Inputs are de-duplicated and, within a directory or glob, in natural order
 * (tracking.log.2.gz before tracking.log.10.gz), so a run's order and its checkpoint keys are stable.
 */
import { open, stat } from "node:fs/promises";
import { relative, resolve } from "node:path";
import { glob, isDynamicPattern } from "tinyglobby";

export interface InputFile {
  /** Absolute path; "-" for stdin. The checkpoint key. */
  readonly path: string;
  readonly gzip: boolean;
}

export const STDIN: InputFile = { path: "-", gzip: false };

/** An input's path as the user would type it: relative below the working directory, absolute elsewhere. */
export function displayPath(path: string): string {
  if (path === "-") return "stdin";
  const rel = relative(process.cwd(), path);
  return rel.startsWith("..") ? path : rel;
}

const naturalOrder = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true });

async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const { bytesRead, buffer } = await fh.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/** Expands the arguments; throws with the argument named when one matches nothing. */
export async function discoverInputs(args: readonly string[], exclude: ReadonlySet<string> = new Set()): Promise<InputFile[]> {
  const paths: string[] = [];
  let stdin = false;
  for (const arg of args) {
    if (arg === "-") {
      stdin = true;
      continue;
    }
    const info = await stat(arg).catch(() => undefined);
    if (info?.isFile()) paths.push(resolve(arg));
    else if (info?.isDirectory())
      paths.push(...(await glob("**/*", { cwd: arg, absolute: true, onlyFiles: true, dot: false })).sort(naturalOrder));
    else if (isDynamicPattern(arg)) {
      const found = (await glob(arg, { absolute: true, onlyFiles: true })).sort(naturalOrder);
      if (found.length === 0) throw new Error(`${arg}: no file matches`);
      paths.push(...found);
    } else throw new Error(`${arg}: no such file or directory`);
  }
  const unique = [...new Set(paths.map((p) => resolve(p)))].filter((p) => !exclude.has(p));
  const inputs: InputFile[] = [];
  for (const path of unique) inputs.push({ path, gzip: await isGzip(path) });
  return stdin ? [...inputs, STDIN] : inputs;
}

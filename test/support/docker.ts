/**
 * Docker for the container test: the client the scripts in scripts/container/ pick (Debian's 20.10 client, whose
 * built-in BuildKit the Dockerfile's build secret needs; lib.sh says why), a daemon started when there is none, and
 * every container and image a test makes removed when the test process exits, even after a crash.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { onTestExit } from "./nats-server.js";

const exec = promisify(execFile);
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SCRIPTS = join(REPO_ROOT, "scripts/container");
export const DOCKER = process.env["ERB_DOCKER"] ?? "/usr/bin/docker";

/** `docker ...`, stdout trimmed; a failure carries the command's stderr. */
export async function docker(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await exec(DOCKER, args, { maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 120_000 });
    return stdout.trim();
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`docker ${args.join(" ")}: ${err.stderr?.trim() || err.message}`);
  }
}

/** The exit code of `docker ...` (stdout and stderr dropped), for commands whose failure is the answer. */
export async function dockerStatus(args: readonly string[]): Promise<number> {
  return exec(DOCKER, args).then(
    () => 0,
    (e: { code?: number }) => (typeof e.code === "number" ? e.code : -1),
  );
}

/** Runs one of scripts/container/*.sh; resolves with its stdout, rejects with the end of its stderr. */
export function runScript(name: string, args: readonly string[] = []): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("bash", [join(SCRIPTS, name), ...args], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const unhook = onTestExit(() => child.kill("SIGKILL"));
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      err = (err + b.toString()).slice(-8000);
    });
    child.once("exit", (code) => {
      unhook();
      if (code === 0) resolvePromise(out.trim());
      else reject(Object.assign(new Error(`${name} exited ${code}: ${err.trim()}`), { exitCode: code, stderr: err.trim() }));
    });
  });
}

/**
 * Why the container test cannot run here, or undefined when it can: a daemon answers (started by
 * scripts/container/start-docker.sh if need be), and the base image exists or debootstrap can make it.
 */
export async function containerSkipReason(): Promise<string | undefined> {
  if (process.env["ERB_CONTAINER_TEST"] === "0") return "ERB_CONTAINER_TEST=0 turns the container test off";
  if (!existsSync(DOCKER)) return `no Docker client at ${DOCKER} (install Debian's docker.io)`;
  try {
    await runScript("start-docker.sh");
  } catch (e) {
    return `no Docker daemon can run here: ${(e as { stderr?: string }).stderr || (e as Error).message}`;
  }
  const base = await runScript("make-base-image.sh", ["--tag"]);
  if ((await dockerStatus(["image", "inspect", base])) === 0) return undefined;
  if (!existsSync("/usr/sbin/debootstrap")) return `the base image ${base} is absent and debootstrap, which makes it, is not installed`;
  if (process.getuid?.() !== 0) return `the base image ${base} is absent and only root can make it (debootstrap, chroot)`;
  return undefined;
}

/** Removes the container (and its anonymous volumes) when the test process exits, however it exits. */
export function removeOnExit(kind: "container" | "image", name: string): () => void {
  return onTestExit(() => {
    try {
      execFileSync(DOCKER, kind === "container" ? ["rm", "-f", "-v", name] : ["rmi", "-f", name], { stdio: "ignore" });
    } catch {
      // Already gone.
    }
  });
}

/** Polls `docker inspect` until the container's health is `want`; fails early if it stops or turns unhealthy. */
export async function awaitHealth(container: string, want: "healthy", timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = JSON.parse(await docker(["inspect", "-f", "{{json .State}}", container])) as {
      Running: boolean;
      Health?: { Status: string; Log?: Array<{ ExitCode: number; Output: string }> };
    };
    const log = (state.Health?.Log ?? []).map((l) => `${l.ExitCode}: ${l.Output.trim()}`);
    if (state.Health?.Status === want) return log;
    if (!state.Running || state.Health?.Status === "unhealthy")
      throw new Error(`container ${container} is ${state.Running ? state.Health?.Status : "not running"}: ${log.join(" | ")}`);
    if (Date.now() > deadline) throw new Error(`no ${want} within ${timeoutMs} ms: ${log.join(" | ")}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Whether any of `needles` occurs in the output of `docker ...` (e.g. `docker save IMAGE`, every layer's bytes),
 * scanned as a stream with an overlap so a needle split across two chunks is still found.
 */
export function dockerOutputContains(args: readonly string[], needles: readonly string[]): Promise<string[]> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(DOCKER, args, { stdio: ["ignore", "pipe", "pipe"] });
    const unhook = onTestExit(() => child.kill("SIGKILL"));
    const keep = Math.max(0, ...needles.map((n) => Buffer.byteLength(n))) - 1;
    const found = new Set<string>();
    let tail = Buffer.alloc(0);
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => {
      const buf = Buffer.concat([tail, chunk]);
      for (const n of needles) if (!found.has(n) && buf.includes(n)) found.add(n);
      tail = keep > 0 ? buf.subarray(Math.max(0, buf.length - keep)) : Buffer.alloc(0);
    });
    child.stderr.on("data", (b: Buffer) => {
      err = (err + b.toString()).slice(-2000);
    });
    child.once("exit", (code) => {
      unhook();
      if (code === 0) resolvePromise([...found]);
      else reject(new Error(`docker ${args.join(" ")} exited ${code}: ${err.trim()}`));
    });
  });
}

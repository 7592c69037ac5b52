/**
 * Tokens generated when EMIT_TOKENS / ADMIN_TOKENS are unset, and where they go. A token value is never logged:
 * under Docker, systemd or Kubernetes the log is shipped and kept where many people read it, and a bearer token
 * in it is a key left in a shared room. So on a terminal the start-up banner shows them to the person who
 * started the service, once; otherwise they are written to a file in DATA_DIR that only the service's user can
 * read (mode 0600), and the log names the file.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Logger } from "pino";
import { ConfigError } from "../config.js";
import { generateToken } from "../server/auth.js";

export const TOKENS_FILE_NAME = "generated-tokens.env";

export interface TokenSettings {
  readonly emitTokens?: readonly string[] | undefined;
  readonly adminTokens?: readonly string[] | undefined;
}

export interface CompletedTokens {
  readonly emitTokens: string[];
  readonly adminTokens: string[];
  /** Variable name -> the token generated for it; empty when both were configured. */
  readonly generated: Readonly<Record<string, string>>;
}

/** The configured tokens, with one generated for each unset variable. */
export function completeTokens(config: TokenSettings): CompletedTokens {
  const generated: Record<string, string> = {};
  const orGenerate = (list: readonly string[] | undefined, name: string): string[] => {
    if (list !== undefined && list.length > 0) return [...list];
    const token = generateToken();
    generated[name] = token;
    return [token];
  };
  return {
    emitTokens: orGenerate(config.emitTokens, "EMIT_TOKENS"),
    adminTokens: orGenerate(config.adminTokens, "ADMIN_TOKENS"),
    generated,
  };
}

/** The file's text: an env file, so `set -a; . FILE` or `env $(cat FILE)` gives a client its token. */
export function tokensFileText(generated: Readonly<Record<string, string>>, pid: number, now: Date): string {
  return (
    `# event-routing: bearer tokens generated at ${now.toISOString()} by pid ${pid}, valid until it stops.\n` +
    "# Set EMIT_TOKENS and ADMIN_TOKENS to keep tokens across restarts. Send as: Authorization: Bearer <token>\n" +
    Object.entries(generated)
      .map(([name, token]) => `${name}=${token}\n`)
      .join("")
  );
}

/**
 * Writes the generated tokens to DATA_DIR/generated-tokens.env, readable by this user only, and returns its
 * absolute path. The text goes to a new file created with mode 0600 (`wx`: never through an existing file or a
 * symbolic link planted there) and is renamed over the old one, so no reader sees it half written or with wider
 * permissions.
 */
export function writeTokensFile(dataDir: string, generated: Readonly<Record<string, string>>): string {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, TOKENS_FILE_NAME);
  const tmp = `${file}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  try {
    writeFileSync(tmp, tokensFileText(generated, process.pid, new Date()), { mode: 0o600, flag: "wx" });
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException)?.code ?? String(e);
    throw new ConfigError(
      `DATA_DIR=${dataDir}: cannot write the generated tokens to ${file} (${code}); make DATA_DIR writable by this user, or set EMIT_TOKENS and ADMIN_TOKENS`,
      { cause: e },
    );
  }
  return file;
}

/**
 * The start command's step: completes the tokens and, when some were generated, puts them where this module's
 * header says (the file only when not on a terminal) and logs their names and the file.
 */
export function provideTokens(
  config: TokenSettings & { readonly dataDir: string },
  terminal: boolean,
  logger: Logger,
): CompletedTokens & { readonly tokensFile: string | undefined } {
  const tokens = completeTokens(config);
  const generated = Object.keys(tokens.generated);
  if (generated.length === 0) return { ...tokens, tokensFile: undefined };
  const tokensFile = terminal ? undefined : writeTokensFile(config.dataDir, tokens.generated);
  logger.warn(
    { generated, ...(tokensFile ? { file: tokensFile } : {}) },
    tokensFile
      ? "no tokens configured: generated tokens written to the file (readable by this user only); set them to keep them across restarts"
      : "no tokens configured: generated tokens shown once in the banner; set them to keep them across restarts",
  );
  return { ...tokens, tokensFile };
}

/**
 * Every exit code the CLI returns, in one table. The operator commands use EXIT (README "Operator CLI"); `replay`
 * is older and its codes are documented apart (README "Replay tracking logs": 0 done, 1 stopped by an error,
 * 2 bad usage, 130 interrupted). Scripts and systemd units test those numbers, so they are kept as they are and
 * named here, through the same table where the meaning is the same, rather than renumbered.
 */

export const EXIT = { ok: 0, usage: 1, notFound: 2, unavailable: 3, notAllowed: 4, refused: 5, other: 6 } as const;

/** 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

export const REPLAY_EXIT = {
  done: EXIT.ok,
  /** A refused token, an unknown router, the service gone after the retries, a checkpoint that cannot be kept. */
  failed: 1,
  usage: 2,
  interrupted: EXIT_INTERRUPTED,
} as const;

/** Thrown for bad flags or arguments; each command maps it to its usage code (EXIT.usage, REPLAY_EXIT.usage). */
export class UsageError extends Error {
  override name = "UsageError";
}

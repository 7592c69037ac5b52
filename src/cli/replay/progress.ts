/**
 * The progress bar on a terminal (cli-progress, on stderr so stdout stays for --output -): lines, lines/s,
 * statements stored, invalid and skipped (with the most frequent reason), and percent with ETA when every
 * input's size is known (plain files; gzip and stdin sizes are not known in advance). Off when stderr is not a
 * TTY: the final summary is printed on any terminal anyway. Reports (invalid lines, retries) go through `log`
 * so they do not tear the bar.
 */
import cliProgress from "cli-progress";
import type { Writable } from "node:stream";
import type { Tally } from "./summary.js";

export interface Progress {
  update(bytesDone: number): void;
  log(text: string): void;
  stop(): void;
}

export interface ProgressOptions {
  readonly enabled: boolean;
  readonly totalBytes: number | undefined;
  readonly tally: Tally;
  readonly err: Writable;
}

export function createProgress(opts: ProgressOptions): Progress {
  if (!opts.enabled) {
    return { update: () => {}, log: (text) => void opts.err.write(text), stop: () => {} };
  }
  const started = Date.now();
  const known = opts.totalBytes !== undefined && opts.totalBytes > 0;
  const counts = "{lines} lines, {rate} lines/s | stored {stored} | invalid {invalid} | skipped {skipped}";
  const format = `${known ? "{bar} {percentage}% ETA {eta_formatted} | " : ""}${counts}`;
  const multi = new cliProgress.MultiBar(
    // gracefulExit off: the command's own Ctrl-C handler stops the run, and the bar with it.
    {
      format,
      stream: opts.err as NodeJS.WritableStream,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 5,
      gracefulExit: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = multi.create(known ? opts.totalBytes! : 1, 0, fields(opts.tally, started));
  return {
    update(bytesDone) {
      bar.update(known ? Math.min(bytesDone, opts.totalBytes!) : 0, fields(opts.tally, started));
    },
    log(text) {
      multi.log(text.endsWith("\n") ? text : `${text}\n`);
    },
    stop() {
      bar.update(fields(opts.tally, started));
      // A last render first: MultiBar.stop() drops reports still waiting for the next frame.
      multi.update();
      multi.stop();
    },
  };
}

function fields(t: Tally, started: number): Record<string, string | number> {
  const d = t.data;
  const top = Object.entries(d.skippedReasons).sort((a, b) => b[1] - a[1])[0];
  return {
    lines: d.lines,
    rate: Math.round(d.lines / Math.max((Date.now() - started) / 1000, 1e-3)),
    stored: d.stored,
    invalid: t.count("invalid"),
    skipped: `${t.count("skipped")}${top ? ` (${top[0]}: ${top[1]})` : ""}`,
  };
}

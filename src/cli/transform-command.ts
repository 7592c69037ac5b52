/**
 * `transform`: prints what the service would publish for events in files, with no NATS. An input is either one
 * event (a JSON file, pretty-printed or not) or a log with one event per line (a tracking.log, gzipped or not,
 * a log prefix before the JSON is fine). Each output line is a JSON object naming its input — `{"input":
 * "FILE[:LINE]", "event": NAME, "statements": [...]}` (Caliper: the events, not the envelope) — and, when
 * nothing was produced, the outcome and reason (also on stderr). Exit 0 when every event parsed, 1 otherwise.
 * Runs the service's own pipeline, with the look-up tables from CSV files instead of NATS.
 */
import { readFileSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Writable } from "node:stream";
import { transformEvent, type PipelineDeps } from "../ingest/emit-pipeline.js";
import { EventParseError, parseEventJson, type EdxEvent } from "../transform/edx-event.js";
import type { BackendName } from "../transform/registry.js";
import { type CommandHelp, renderHelp, wantsHelp } from "./help.js";
import { OFFLINE_ARG_OPTIONS, offlinePipeline } from "./offline-pipeline.js";
import { discoverInputs, STDIN, type InputFile } from "./replay/inputs.js";
import { readInput } from "./replay/line-sources.js";

/** Inputs up to this size are first tried as one (possibly pretty-printed) JSON event. */
const WHOLE_FILE_MAX_BYTES = 4 * 1024 * 1024;
const MAX_LINE_BYTES = 16 * 1024 * 1024;

export const TRANSFORM_COMMAND = {
  options: { backend: { type: "string" }, ...OFFLINE_ARG_OPTIONS } as const,
  help: {
    synopsis: ["transform --backend xapi|caliper [options] FILE... (- for stdin)"],
    about:
      "Prints what the service would publish for each event, with no NATS and no service: one JSON line per event,\n" +
      "naming its input (FILE or FILE:LINE). An input is one JSON event or a log with one event per line (.gz too).\n" +
      "Exit 0 when every event parsed, 1 otherwise, 2 on bad usage.",
    flags: [
      { flag: "--backend xapi|caliper", text: "which statements to print" },
      { flag: "--lms-root-url URL", text: "the LMS root URL (default $LMS_ROOT_URL)" },
      { flag: "--transformer-version V", text: "the transformer version in statements (default $TRANSFORMER_VERSION)" },
      { flag: "--identities FILE.csv", text: "learners: user_id,username,external_id,email" },
      { flag: "--courses FILE.csv", text: "course names: course_id,name" },
      { flag: "--mappings DIR", text: "custom mappings: every .yaml, .yml and .json file of DIR, checked as the service checks them" },
    ],
    env: [
      ["IDENTITY_HMAC_SECRET", "as the service has it, so learners missing from --identities get the service's ids"],
      ["LMS_ROOT_URL, TRANSFORMER_VERSION", "defaults for the flags; the service's other transform settings apply too"],
    ],
  },
} satisfies { options: Record<string, unknown>; help: CommandHelp };

export async function runTransform(args: string[], out: Writable, err: Writable): Promise<number> {
  if (wantsHelp(args)) {
    out.write(renderHelp(TRANSFORM_COMMAND.help));
    return 0;
  }
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: TRANSFORM_COMMAND.options });
  const backend = values.backend as BackendName | undefined;
  if (backend !== "xapi" && backend !== "caliper") {
    err.write("--backend must be xapi or caliper\n");
    return 2;
  }
  if (positionals.length === 0) {
    err.write("no input files (use - for stdin)\n");
    return 2;
  }
  const deps = offlinePipeline(
    {
      lmsRootUrl: values["lms-root-url"],
      transformerVersion: values["transformer-version"],
      identities: values.identities,
      courses: values.courses,
      mappings: values.mappings,
    },
    err,
  );

  let allParsed = true;
  const one = async (input: string, text: string) => {
    if (!(await printOne(input, text, deps, backend, out, err))) allParsed = false;
  };
  for (const arg of positionals) {
    const inputs: InputFile[] = arg === "-" ? [STDIN] : await discoverInputs([arg]);
    for (const input of inputs) {
      const label = input.path === "-" ? "-" : arg === input.path || inputs.length === 1 ? arg : input.path;
      const whole = wholeText(input);
      if (whole !== undefined && parsesWhole(whole)) {
        await one(label, whole);
        continue;
      }
      const lines = whole !== undefined ? splitLines(whole) : readInput(input, linesOnly);
      for await (const line of lines) if (line.text.trim() !== "") await one(`${label}:${line.lineNo}`, line.text);
    }
  }
  return allParsed ? 0 : 1;
}

const linesOnly = {
  start: { offset: 0, lines: 0, note: "" },
  maxLineBytes: MAX_LINE_BYTES,
  follow: false,
  pollMs: 0,
  signal: new AbortController().signal,
};

/** The whole text of a small uncompressed file or stdin; undefined when it must be streamed. */
function wholeText(input: InputFile): string | undefined {
  if (input.path === "-") return readFileSync(0, "utf8");
  if (input.gzip || statSync(input.path).size > WHOLE_FILE_MAX_BYTES) return undefined;
  return readFileSync(input.path, "utf8");
}

function parsesWhole(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function* splitLines(text: string): Generator<{ text: string; lineNo: number }> {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) yield { text: lines[i]!, lineNo: i + 1 };
}

async function printOne(
  input: string,
  text: string,
  deps: PipelineDeps,
  backend: BackendName,
  out: Writable,
  err: Writable,
): Promise<boolean> {
  let event: EdxEvent;
  try {
    event = parseEventJson(text);
  } catch (e) {
    if (!(e instanceof EventParseError)) throw e;
    out.write(`${JSON.stringify({ input, outcome: "invalid", reason: `${e.field}: ${e.message}`, statements: [] })}\n`);
    err.write(`${input}: not parsed: ${e.field}: ${e.message}\n`);
    return false;
  }
  const [output] = await transformEvent(event, deps, [backend]);
  const result = output!.result;
  if (result.outcome === "transformed") out.write(`${JSON.stringify({ input, event: event.name, statements: result.statements })}\n`);
  else {
    out.write(`${JSON.stringify({ input, event: event.name, outcome: result.outcome, reason: result.reason, statements: [] })}\n`);
    err.write(`${input}: ${result.outcome}: ${result.reason}\n`);
  }
  return true;
}

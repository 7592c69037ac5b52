/**
 * A generated tracking-log corpus for replay tests and benchmarks: lines built from ERB's raw fixtures and the
 * sample tracking.log, each with its own timestamp (so every line's statements have distinct ids and nothing
 * de-duplicates by accident), some with the LMS's log prefix, every `malformedEvery`-th line cut in half
 * (invalid JSON), spread over several files of which some are gzipped. Each line remembers its template, so a
 * test can compare a replay with a per-line Emit of one line per template.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { ERB_FIXTURES_DIR } from "./erb-fixtures.js";

export const LOG_PREFIX = "2023-05-23 13:53:13,461 INFO 20 [tracking] [user None] [ip None] logger.py:41 - ";

/** One JSON object per template, key order as in the source. */
export function corpusTemplates(): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const f of readdirSync(join(ERB_FIXTURES_DIR, "raw"))
    .filter((n) => n.endsWith(".json"))
    .sort()) {
    out.push(JSON.parse(readFileSync(join(ERB_FIXTURES_DIR, "raw", f), "utf8")) as Record<string, unknown>);
  }
  for (const line of readFileSync(join(ERB_FIXTURES_DIR, "tracking.log"), "utf8").split("\n")) {
    const start = line.indexOf("{");
    if (start < 0) continue;
    try {
      out.push(JSON.parse(line.slice(start)) as Record<string, unknown>);
    } catch {
      // The sample log has two broken lines on purpose; the corpus makes its own.
    }
  }
  return out;
}

/** A distinct raw timestamp per line, in the LMS's isoformat() form (microseconds, +00:00). */
export function corpusTimestamp(seed: number, i: number): string {
  const iso = new Date(Date.UTC(2024, 0, 1) + seed * 86_400_000 + i * 1000).toISOString();
  return `${iso.slice(0, 19)}.${String(i % 1_000_000).padStart(6, "0")}+00:00`;
}

export function withTimestamp(template: Record<string, unknown>, ts: string): Record<string, unknown> {
  const copy = { ...template };
  if ("time" in copy) copy["time"] = ts;
  else copy["timestamp"] = ts;
  return copy;
}

export interface CorpusLine {
  readonly template: number;
  readonly malformed: boolean;
}

export interface CorpusSpec {
  readonly dir: string;
  readonly files: ReadonlyArray<{ readonly name: string; readonly lines: number; readonly gzip?: boolean; readonly prefix?: boolean }>;
  readonly malformedEvery: number;
  readonly seed: number;
}

export interface Corpus {
  readonly paths: string[];
  /** Per file, its lines in order. */
  readonly lines: CorpusLine[][];
  readonly templates: Array<Record<string, unknown>>;
  readonly totalLines: number;
}

export function writeCorpus(spec: CorpusSpec): Corpus {
  const templates = corpusTemplates();
  let n = 0;
  const paths: string[] = [];
  const lines: CorpusLine[][] = [];
  for (const file of spec.files) {
    const texts: string[] = [];
    const meta: CorpusLine[] = [];
    for (let i = 0; i < file.lines; i++, n++) {
      const template = n % templates.length;
      const malformed = n % spec.malformedEvery === spec.malformedEvery - 1;
      let text = JSON.stringify(withTimestamp(templates[template]!, corpusTimestamp(spec.seed, n)));
      if (malformed) text = text.slice(0, Math.floor(text.length / 2));
      texts.push(`${file.prefix ? LOG_PREFIX : ""}${text}`);
      meta.push({ template, malformed });
    }
    const body = Buffer.from(`${texts.join("\n")}\n`);
    const path = join(spec.dir, file.name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.gzip ? gzipSync(body) : body);
    paths.push(path);
    lines.push(meta);
  }
  return { paths, lines, templates, totalLines: n };
}

/**
 * Where `npm run bench` keeps its results: one block per Node major in docs/benchmarks.md and one entry per major
 * in docs/benchmarks.json, so a run on Node 24 replaces only the Node 24 figures and the Node 20 ones stay beside
 * them (and the other way round). Above the blocks, a table puts each benchmark's median ratio on every runtime
 * side by side, rebuilt from the JSON after each run. Pure: bench/run.ts reads and writes the files.
 */

export interface BenchRow {
  readonly name: string;
  readonly what: string;
  readonly unit: string;
  readonly raw: number[];
  readonly service: number[];
  /** Per pair: service/raw for rates, service p99/raw p99 for latency. */
  readonly ratios: number[];
  readonly target: string;
  readonly met: boolean;
  readonly rssMiB: number;
  readonly extra?: Record<string, unknown>;
}

export interface BenchEnv {
  readonly date: string;
  readonly durationSeconds: number;
  readonly machine: string;
  readonly loadAverageAtEnd: string;
  /** process.version of the run: the service, the load generator and the baselines all run on this node. */
  readonly node: string;
  readonly natsServer: string;
  readonly natsJs: string;
  readonly connect: string;
  readonly service: string;
  readonly rounds: number;
  readonly secondsPerRun: number;
}

export interface BenchRun {
  readonly env: BenchEnv;
  readonly results: BenchRow[];
}

/** docs/benchmarks.json: the latest run per runtime, keyed "node24", "node20". */
export interface BenchFile {
  readonly runs: Record<string, BenchRun>;
}

/** Peak RSS every benchmark must stay under (issue 26; 256 MiB before). */
export const RSS_TARGET_MIB = 200;

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** "node24" for v24.22.3. */
export function runtimeKey(nodeVersion: string): string {
  const m = /^v?(\d+)\./.exec(nodeVersion);
  if (!m) throw new Error(`not a Node version: ${nodeVersion}`);
  return `node${m[1]}`;
}

/** The JSON after a run: its runtime's entry replaced, the others kept. Reads the one-run shape written before. */
export function mergeRun(previous: unknown, run: BenchRun): BenchFile {
  const runs: Record<string, BenchRun> = {};
  const p = previous as Partial<BenchFile & BenchRun> | undefined;
  if (p?.runs) Object.assign(runs, p.runs);
  else if (p?.env && p.results) runs[runtimeKey(p.env.node)] = { env: p.env, results: p.results };
  runs[runtimeKey(run.env.node)] = run;
  return { runs };
}

/** Majors newest first: the supported runtime's figures come first. */
const byMajorDesc = (a: string, b: string) => Number(b.slice(4)) - Number(a.slice(4));

const fmt = (x: number) => (x >= 100 ? Math.round(x).toLocaleString("en-US") : String(Math.round(x * 10) / 10));

/** One runtime's block: the run's setting, the table, the per-round details. */
export function renderRun(run: BenchRun): string {
  const { env, results: rows } = run;
  const key = runtimeKey(env.node);
  const table = [
    `| Benchmark | Baseline (median) | Service (median) | Ratio per round | Median ratio | Target | Met | Service peak RSS (<= ${RSS_TARGET_MIB} MiB) |`,
    "|---|---|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| **${r.name}**: ${r.what} | ${fmt(median(r.raw))} ${r.unit} | ${fmt(median(r.service))} ${r.unit} | ${r.ratios.map((x) => x.toFixed(2)).join(", ")} | ` +
        `**${median(r.ratios).toFixed(2)}** | ${r.target} | ${r.met ? "yes" : "**no**"} | ${r.rssMiB ? `${r.rssMiB} MiB${r.rssMiB > RSS_TARGET_MIB ? " **(over)**" : ""}` : "-"} |`,
    ),
  ];
  const extras = rows.filter((r) => r.extra).map((r) => `- ${r.name}: \`${JSON.stringify(r.extra)}\``);
  return [
    `<!-- results:${key}:start (written by npm run bench on Node ${key.slice(4)}) -->`,
    `### Node ${key.slice(4)}`,
    "",
    `Run of ${env.date} (${env.durationSeconds} s): ${env.machine}; load average at the end ${env.loadAverageAtEnd}.`,
    `Node ${env.node}, ${env.natsServer}, nats.js ${env.natsJs}, Connect ${env.connect}. Service: \`${env.service}\`.`,
    `${env.rounds} interleaved rounds of ${env.secondsPerRun} s per run; the ratio is taken per round, then the median.`,
    "",
    ...table,
    "",
    "Details per round:",
    "",
    ...extras,
    `<!-- results:${key}:end -->`,
  ].join("\n");
}

/** Each benchmark's median ratio (and target met) on every runtime that has a run, newest major first. */
export function renderComparison(file: BenchFile): string {
  const keys = Object.keys(file.runs).sort(byMajorDesc);
  const names = [...new Set(keys.flatMap((k) => file.runs[k]!.results.map((r) => r.name)))];
  const cell = (k: string, name: string) => {
    const r = file.runs[k]!.results.find((x) => x.name === name);
    return r ? `${median(r.ratios).toFixed(2)}${r.met ? "" : " (missed)"}${r.rssMiB ? `, ${r.rssMiB} MiB` : ""}` : "-";
  };
  return [
    "<!-- results:compare:start (written by npm run bench from docs/benchmarks.json) -->",
    `Median ratio (and service peak RSS) per runtime, each from that runtime's latest run: ${keys
      .map((k) => `Node ${k.slice(4)} on ${file.runs[k]!.env.date.slice(0, 10)}`)
      .join(", ")}.`,
    "",
    `| Benchmark | Target | ${keys.map((k) => `Node ${k.slice(4)}`).join(" | ")} |`,
    `|---|---|${keys.map(() => "---|").join("")}`,
    ...names.map((n) => {
      const target = keys.map((k) => file.runs[k]!.results.find((x) => x.name === n)?.target).find((t) => t) ?? "";
      return `| ${n} | ${target} | ${keys.map((k) => cell(k, n)).join(" | ")} |`;
    }),
    "<!-- results:compare:end -->",
  ].join("\n");
}

const block = (key: string) => new RegExp(`<!-- results:${key}:start[\\s\\S]*?<!-- results:${key}:end -->`);

/**
 * docs/benchmarks.md after a run of `key`: that runtime's block replaced (or added after the comparison when the
 * runtime had none), the comparison rebuilt, every other runtime's block left as it was.
 */
export function updateDoc(doc: string, file: BenchFile, key: string): string {
  const run = file.runs[key];
  if (!run) throw new Error(`no ${key} run to write`);
  if (!block("compare").test(doc)) throw new Error("docs/benchmarks.md has no results:compare markers");
  let out = doc.replace(block("compare"), () => renderComparison(file));
  const section = renderRun(run);
  if (block(key).test(out)) return out.replace(block(key), () => section);
  // A runtime without a block yet: placed by major, newest first, among the blocks already there.
  const later = Object.keys(file.runs)
    .filter((k) => k !== key && block(k).test(out) && byMajorDesc(key, k) < 0)
    .sort(byMajorDesc)[0];
  const at = later ? out.search(block(later)) : out.indexOf("<!-- results:compare:end -->") + "<!-- results:compare:end -->".length;
  out = later ? `${out.slice(0, at)}${section}\n\n${out.slice(at)}` : `${out.slice(0, at)}\n\n${section}${out.slice(at)}`;
  return out;
}

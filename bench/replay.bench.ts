/**
 * Replay throughput: lines/s for a 100k-line gzipped tracking-log corpus (ERB fixtures and the sample log, 1%
 * malformed, half with the LMS's log prefix), read by the CLI as users run it: offline (in-process transform, no
 * service), and through the service (EmitBatch of 500, 4 in flight, two xAPI routers, delivery off); beside the
 * same events sent with plain EmitBatch calls from a client that has them in memory (the service's ceiling).
 * Prints lines/second; not a test.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { Backend, EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { startService } from "../src/service.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { corpusTemplates, corpusTimestamp, LOG_PREFIX, withTimestamp, writeCorpus } from "../test/support/tracking-corpus.js";

const LINES = Number(process.env["BENCH_REPLAY_LINES"] ?? 100_000);
const TOKEN = "bench-token-0123456789abcdef";
const dir = mkdtempSync(join(tmpdir(), "er-replay-bench-"));
const corpus = writeCorpus({
  dir,
  seed: 7,
  malformedEvery: 100,
  files: [
    { name: "tracking.log.1.gz", lines: LINES / 2, gzip: true, prefix: true },
    { name: "tracking.log.2.gz", lines: LINES / 2, gzip: true },
  ],
});

const nats = await startNatsServer();
const config = loadConfig({
  NATS_URL: nats.url,
  PORT: "0",
  EMIT_TOKENS: TOKEN,
  ADMIN_TOKENS: TOKEN,
  DELIVERY_ENABLED: "false",
  LOG_RPCS: "false",
  LOG_LEVEL: "silent",
});
const service = await startService({ ...config, natsUrl: nats.url }, pino({ level: "silent" }));
const url = `http://127.0.0.1:${service.port}`;
const transport = createGrpcTransport({ baseUrl: url });
const opts = { headers: { authorization: `Bearer ${TOKEN}` } };
const admin = createClient(RouterAdminService, transport);
for (const id of ["bench-a", "bench-b"]) {
  await admin.createRouter({ router: { id, backend: Backend.XAPI, endpointUrl: "http://127.0.0.1:9/xapi", enabled: true } }, opts);
}

/** The CLI as a child process; spawned asynchronously because the service it talks to runs in this process. */
async function cli(label: string, args: string[]): Promise<void> {
  const started = process.hrtime.bigint();
  const child = spawn(
    process.execPath,
    ["--no-warnings", "--import", "tsx", "src/cli/main.ts", "replay", "--json", "--no-progress", ...args, ...corpus.paths],
    {
      env: { ...process.env, EVENT_ROUTING_URL: url, EVENT_ROUTING_TOKEN: TOKEN, IDENTITY_HMAC_SECRET: "bench-hmac-secret-value" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b));
  child.stderr.on("data", (b: Buffer) => (stderr += b));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`${label}: exit ${code}: ${stderr.slice(0, 500)}`);
  const s = JSON.parse(stdout.trim().split("\n").at(-1)!) as { lines: number; stored: number };
  console.log(
    `${label}: ${Math.round(s.lines / secs).toLocaleString("en-US")} lines/s (${s.lines} lines, ${s.stored} stored, ${secs.toFixed(2)} s incl. start-up)`,
  );
}

await cli("replay --offline (in-process transform)", ["--offline"]);
await cli("replay through the service (EmitBatch 500 x 4 in flight)", ["--no-checkpoint"]);

// The same kind of lines (new timestamps, so nothing de-duplicates), already in memory: EmitBatch's ceiling.
const templates = corpusTemplates();
const lines = Array.from(
  { length: LINES },
  (_, i) => `${LOG_PREFIX}${JSON.stringify(withTimestamp(templates[i % templates.length]!, corpusTimestamp(8, i)))}`,
);
const client = createClient(EventRoutingService, transport);
const started = process.hrtime.bigint();
let next = 0;
await Promise.all(
  Array.from({ length: 4 }, async () => {
    while (next < lines.length) {
      const batch = lines.slice(next, next + 500);
      next += 500;
      await client.emitBatch({ events: batch.map((value) => create(EventInputSchema, { event: { case: "json", value } })) }, opts);
    }
  }),
);
const secs = Number(process.hrtime.bigint() - started) / 1e9;
console.log(
  `EmitBatch 500 x 4 from memory: ${Math.round(LINES / secs).toLocaleString("en-US")} lines/s (${LINES} lines, ${secs.toFixed(2)} s)`,
);

await service.close();
await nats.stop();
rmSync(dir, { recursive: true, force: true });

/**
 * Heap of HttpClient over many requests that all pass the same long-lived AbortSignal (as a worker does with its
 * stop signal). Combining that signal per request with AbortSignal.any retains every combined signal on Node 20
 * (nodejs/node#55351), so the heap grows with the request count; a per-request timeout that adds and removes its
 * own listener must stay flat. Prints heapUsed after a full GC at the start, every 20k requests and at the end.
 * BENCH_REQUESTS (default 100000) sets the count. Not a test; test/delivery-units.test.ts has the small check.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { HttpClient } from "../src/delivery/http/http-send.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const REQUESTS = Number(process.env["BENCH_REQUESTS"] ?? 100_000);
const CONCURRENCY = 8;

const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => res.writeHead(200).end("[]"));
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/statements`);
const client = new HttpClient();
const stop = new AbortController();

function heapMb(): number {
  gc();
  gc();
  return Math.round((process.memoryUsage().heapUsed / 1048576) * 10) / 10;
}

const start = heapMb();
console.log(`requests 0: heapUsed ${start} MB`);
let sent = 0;
let done = 0;
const t0 = Date.now();
async function lane(): Promise<void> {
  while (sent < REQUESTS) {
    sent++;
    await client.post(url, { "Content-Type": "application/json" }, "[]", 10_000, stop.signal);
    done++;
    if (done % 20_000 === 0) console.log(`requests ${done}: heapUsed ${heapMb()} MB`);
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, () => lane()));
const end = heapMb();
const rate = Math.round(REQUESTS / ((Date.now() - t0) / 1000));
console.log(`requests ${REQUESTS}: heapUsed ${end} MB (growth ${Math.round((end - start) * 10) / 10} MB, ${rate} req/s)`);
client.close();
server.close();

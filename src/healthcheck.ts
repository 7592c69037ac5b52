/**
 * Container health check: asks this instance's own grpc.health.v1.Health/Check (overall status) and exits 0 only
 * for SERVING, 1 otherwise (NOT_SERVING while NATS is unreachable or shutting down, no answer, any error).
 * It speaks the Connect protocol (JSON over HTTP/1.1), which the service's port serves beside gRPC, so it needs
 * nothing but node: no grpc_health_probe binary in the image. Reads HOST, PORT and TLS_CERT_FILE like the service;
 * with TLS it does not verify the certificate (it only talks to itself, and the certificate names the public host).
 * Usage: `node dist/healthcheck.js [SERVICE]` (SERVICE as registered, e.g. eventrouting.ingest.EventBusRedis).
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

const TIMEOUT_MS = 5000;

function probeHost(host: string | undefined): string {
  // A wildcard listen address is reachable on loopback; a specific one must be asked on that address.
  if (host === undefined || host === "" || host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host;
}

function check(env: NodeJS.ProcessEnv, service: string): Promise<string> {
  const tls = (env["TLS_CERT_FILE"] ?? "") !== "";
  const body = JSON.stringify({ service });
  const request = tls ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: probeHost(env["HOST"]),
        port: Number(env["PORT"] ?? "8080"),
        method: "POST",
        path: "/grpc.health.v1.Health/Check",
        headers: { "Content-Type": "application/json", "Connect-Protocol-Version": "1", "Content-Length": Buffer.byteLength(body) },
        timeout: TIMEOUT_MS,
        ...(tls ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => {
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          const status = (JSON.parse(text) as { status?: string }).status;
          resolve(status ?? "UNKNOWN");
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

check(process.env, process.argv[2] ?? "").then(
  (status) => {
    process.stdout.write(`${status}\n`);
    process.exitCode = status === "SERVING" ? 0 : 1;
  },
  (e: unknown) => {
    process.stderr.write(`health check failed: ${(e as Error).message}\n`);
    process.exitCode = 1;
  },
);

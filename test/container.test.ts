/**
 * The container image, built and run here. deploy/Dockerfile is built on the local Node 24 base image
 * (scripts/container/make-base-image.sh: Debian bookworm by debootstrap, Node and npm from the npm registry) with
 * the host's CA bundle as a build secret (scripts/container/build-image.sh), then run with --network host (the
 * daemon has no bridge network: loopback only) against a nats-server and an xAPI endpoint this test starts.
 * What a deployment relies on: health SERVING, an Emit stored and delivered, Docker's HEALTHCHECK healthy, the
 * unprivileged `node` user, a read-only root file system, SIGTERM exiting 0 after a clean stop, and no trace of
 * the build's CA bundle in the image. Skips, with the reason, where no Docker daemon can run or the base image
 * cannot be made (deploy/README.md, "Building the image offline").
 */
import assert from "node:assert/strict";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { create } from "@bufbuild/protobuf";
import { createUser } from "@nats-io/nkeys";
import { EventInputSchema, Outcome } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import {
  awaitHealth,
  containerSkipReason,
  docker,
  dockerOutputContains,
  dockerStatus,
  REPO_ROOT,
  removeOnExit,
  runScript,
} from "./support/docker.js";
import { faultEvents } from "./support/fault-load.js";
import { createScenarioRouter } from "./support/fault-rpc.js";
import { freePort } from "./support/free-port.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { onTestExit, startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { authed, FAULT_TOKEN, type ServiceClients } from "./support/service-process.js";

const skip = await containerSkipReason();
const names = natsNames("eventrouting");
const IMAGE = `event-routing-test:${process.pid}`;
const CONTAINER = `event-routing-test-${process.pid}`;
/** The CA bundle the host trusts (the proxy's CA among Debian's); build-image.sh passes it as the secret. */
const HOST_CA = process.env["NODE_EXTRA_CA_CERTS"];
/** Debian's nats-server (linked to libc only), mounted into the bookworm base image for the cluster test. */
const NATS_BIN = process.env["NATS_SERVER_BIN"] ?? "/usr/sbin/nats-server";

let nats: TestNatsServer;
let nc: NatsConnection;
let endpoint: FaultEndpoint;
let port: number;

const pemBlocks = (text: string) => text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];

/** One base64 line from the middle of each certificate the host trusts and the image does not: the proxy's CAs. */
async function hostOnlyCertificateLines(): Promise<string[]> {
  if (!HOST_CA) return [];
  const inImage = new Set(
    pemBlocks(await docker(["run", "--rm", "--network", "none", "--entrypoint", "cat", IMAGE, "/etc/ssl/certs/ca-certificates.crt"])),
  );
  return pemBlocks(readFileSync(HOST_CA, "utf8"))
    .filter((pem) => !inImage.has(pem))
    .map((pem) => {
      const lines = pem.split("\n").filter((l) => /^[A-Za-z0-9+/]{64}$/.test(l));
      return lines[Math.floor(lines.length / 2)]!;
    })
    .filter(Boolean);
}

function clients(onPort = port): ServiceClients & { health: ReturnType<typeof createClient<typeof Health>> } {
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${onPort}` });
  return {
    events: createClient(EventRoutingService, transport),
    admin: createClient(RouterAdminService, transport),
    health: createClient(Health, transport),
  };
}

describe("container image (deploy/Dockerfile, built and run with Docker)", { skip }, () => {
  before(
    async () => {
      removeOnExit("image", IMAGE);
      removeOnExit("container", CONTAINER);
      // Builds the base image first when it is not cached (debootstrap: minutes, once per machine).
      await runScript("build-image.sh", [IMAGE]);
      nats = await startNatsServer();
      nc = await connectNats({ servers: nats.url, name: "container-test" });
      endpoint = await FaultEndpoint.start();
      port = await freePort();
    },
    { timeout: 20 * 60_000 },
  );

  after(async () => {
    await dockerStatus(["rm", "-f", "-v", CONTAINER]);
    await dockerStatus(["rmi", "-f", IMAGE]);
    await nc?.close();
    await nats?.stop();
    await endpoint?.close();
  });

  test("the image: user node, the health check script, no environment or file of the build's CA bundle", async (t) => {
    const [image] = JSON.parse(await docker(["image", "inspect", IMAGE])) as Array<{
      Config: { User: string; Env: string[]; Healthcheck?: { Test: string[] }; StopSignal?: string };
    }>;
    assert.equal(image!.Config.User, "node");
    assert.deepEqual(image!.Config.Healthcheck?.Test, ["CMD", "node", "dist/healthcheck.js"]);
    assert.equal(image!.Config.StopSignal, "SIGTERM");
    assert.deepEqual(
      image!.Config.Env.filter((e) => /CA_CERTS|npm-ca|ca-certificates/i.test(e)),
      [],
      "no CA variable in the image's environment",
    );
    assert.equal(await docker(["run", "--rm", "--network", "none", "--entrypoint", "node", IMAGE, "--version"]), "v24.22.3");
    assert.notEqual(await dockerStatus(["run", "--rm", "--network", "none", "--entrypoint", "ls", IMAGE, "/run/secrets/npm-ca"]), 0);
    const history = await docker(["history", "--no-trunc", "--format", "{{.CreatedBy}}", IMAGE]);
    if (HOST_CA) assert.ok(!history.includes(HOST_CA), "the history names no host CA file");
    // The proxy's CA certificates (trusted by the host, not by Debian's bundle) are in no layer of the image.
    const needles = await hostOnlyCertificateLines();
    t.diagnostic(`${needles.length} certificate(s) only the host trusts, searched for in every layer (docker save)`);
    assert.deepEqual(await dockerOutputContains(["save", IMAGE], needles), [], "a host-only CA certificate is in a layer");
  });

  test("runs against NATS: health SERVING, an Emit stored and delivered, Docker reports healthy, as uid 1000", {
    timeout: 120_000,
  }, async (t) => {
    const env = {
      NATS_URL: nats.url,
      HOST: "127.0.0.1",
      PORT: String(port),
      EMIT_TOKENS: FAULT_TOKEN,
      ADMIN_TOKENS: FAULT_TOKEN,
      IDENTITY_HMAC_SECRET: "container-test-hmac-secret-0123456789",
      LOG_RPCS: "false",
      SHUTDOWN_DRAIN_DELAY_MS: "1000",
      SHUTDOWN_GRACE_MS: "3000",
    };
    // As the Kubernetes example runs it: read-only root, no capabilities. Only the health interval is shortened
    // (the image's HEALTHCHECK command runs as it is), so "healthy" comes within seconds rather than 15.
    await docker([
      ...["run", "-d", "--name", CONTAINER, "--network", "host", "--read-only", "--tmpfs", "/tmp"],
      ...["--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--health-interval", "2s"],
      ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
      IMAGE,
    ]);
    const c = clients();
    await untilServing(c, 30_000, "the container's gRPC health SERVING");
    assert.equal(await docker(["exec", CONTAINER, "node", "dist/healthcheck.js"]), "SERVING");

    const router = "container";
    await createScenarioRouter(c, router, endpoint.url, "container", {
      batchSize: 1,
      batchIntervalMs: 50,
      maxRetries: 3,
      countdownMs: 3000,
      httpTimeoutMs: 2000,
    });
    const event = create(EventInputSchema, { event: { case: "json", value: faultEvents("container", 1)[0]!.json } });
    const { result } = await c.events.emit({ event }, authed);
    assert.equal(result?.outcome, Outcome.PUBLISHED, result?.reason);
    const [statementId] = result!.backends.find((b) => b.routerIds.includes(router))!.statementIds;
    assert.ok(statementId);
    const jsm = await jetstreamManager(nc);
    const stored = await jsm.streams.getMessage(names.deliveryStream, { last_by_subj: names.deliverSubject(router) });
    assert.equal(stored?.header?.get("Nats-Msg-Id"), names.deliveryMsgId(router, statementId));
    await waitUntil(() => endpoint.stored.has(statementId), 20_000, "the statement delivered from the container");

    const healthLog = await awaitHealth(CONTAINER, "healthy", 60_000);
    t.diagnostic(`Docker health: ${healthLog.at(-1)}`);
    const status = await docker(["exec", CONTAINER, "cat", "/proc/1/status"]);
    assert.match(status, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m, "PID 1 runs as uid 1000");
    assert.match(await docker(["exec", CONTAINER, "cat", "/proc/1/cmdline"]), /dist\/main\.js/, "PID 1 is the service");
    assert.equal(await docker(["exec", CONTAINER, "id", "-un"]), "node");
  });

  test("docker stop -t 30 (SIGTERM): the service stops cleanly and exits 0", { timeout: 60_000 }, async (t) => {
    const started = Date.now();
    await docker(["stop", "-t", "30", CONTAINER], { timeoutMs: 45_000 });
    t.diagnostic(`docker stop took ${Date.now() - started} ms (drain delay 1 s)`);
    const state = JSON.parse(await docker(["inspect", "-f", "{{json .State}}", CONTAINER])) as { ExitCode: number; OOMKilled: boolean };
    const lines = (await docker(["logs", CONTAINER]))
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { msg?: string; signal?: string; level?: number });
    assert.equal(state.ExitCode, 0, `exit code; last log lines: ${JSON.stringify(lines.slice(-3))}`);
    assert.equal(state.OOMKilled, false);
    assert.ok(
      lines.some((l) => l.msg === "stopped" && l.signal === "SIGTERM"),
      "the service logged that it stopped on SIGTERM",
    );
    assert.deepEqual(
      lines.filter((l) => (l.level ?? 0) >= 50),
      [],
      "no error logged",
    );
  });

  // deploy/compose's cluster without Compose: Debian's docker-compose 1.29 refuses compose.yaml (its top-level
  // `name:` is Compose v2), no Compose v2 plugin is packaged, and the file's bridge network and published ports are
  // not allowed here. What it deploys is run with docker run and host networking instead: three NATS nodes on
  // compose/nats.conf itself (accounts, the service's NKey user), ports moved by nats-server's command-line flags
  // (they override the file), Debian's nats-server in the base image; two instances with NATS_REPLICAS=3 and the
  // seed mounted as compose mounts its secret. Not run: Redis (the event bus) and Prometheus (no images here).
  test("compose's cluster by docker run: 3 NATS nodes on compose/nats.conf, two instances with NATS_REPLICAS=3 share a router", {
    timeout: 180_000,
  }, async (t) => {
    const base = await runScript("make-base-image.sh", ["--tag"]);
    const dir = mkdtempSync(join(tmpdir(), "er-compose-"));
    onTestExit(() => rmSync(dir, { recursive: true, force: true }));
    const user = createUser();
    const seedFile = join(dir, "nats-nkey.seed");
    writeFileSync(seedFile, new TextDecoder().decode(user.getSeed()));
    // As deploy/README.md says for compose: readable by the image's node user only.
    chownSync(seedFile, 1000, 1000);
    chmodSync(seedFile, 0o400);
    const nodes = await Promise.all(
      [1, 2, 3].map(async (i) => ({ i, client: await freePort(), monitor: await freePort(), route: await freePort() })),
    );
    const routes = nodes.map((n) => `nats://127.0.0.1:${n.route}`).join(",");
    for (const n of nodes) {
      const name = `${CONTAINER}-nats-${n.i}`;
      removeOnExit("container", name);
      mkdirSync(join(dir, `nats-${n.i}`));
      await docker([
        ...["run", "-d", "--name", name, "--network", "host", "--entrypoint", "/usr/local/bin/nats-server"],
        ...[
          "-e",
          `NATS_SERVER_NAME=nats-${n.i}`,
          "-e",
          `EVENT_ROUTING_NKEY=${user.getPublicKey()}`,
          "-e",
          "NATS_SYS_PASSWORD=container-test-sys-password-0123",
        ],
        ...["-v", `${REPO_ROOT}/deploy/compose/nats.conf:/etc/nats/nats.conf:ro`, "-v", `${join(dir, `nats-${n.i}`)}:/data`],
        ...["-v", `${NATS_BIN}:/usr/local/bin/nats-server:ro`, base],
        ...["-c", "/etc/nats/nats.conf", "-a", "127.0.0.1", "-p", String(n.client), "-m", String(n.monitor)],
        ...["--cluster", `nats://127.0.0.1:${n.route}`, "--routes", routes],
      ]);
    }
    // compose's health check of a node: JetStream enabled and current.
    for (const n of nodes)
      await waitUntil(
        () =>
          fetch(`http://127.0.0.1:${n.monitor}/healthz?js-enabled-only=true`).then(
            (r) => r.ok,
            () => false,
          ),
        30_000,
        `nats-${n.i} healthy`,
      );
    const natsUrl = nodes.map((n) => `nats://127.0.0.1:${n.client}`).join(",");
    const instances = await Promise.all([1, 2].map(async (i) => ({ i, name: `${CONTAINER}-er-${i}`, port: await freePort() })));
    for (const s of instances) {
      removeOnExit("container", s.name);
      await docker([
        ...["run", "-d", "--name", s.name, "--network", "host", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL"],
        ...["-v", `${seedFile}:/run/secrets/nats_nkey_seed:ro`],
        ...Object.entries({
          HOST: "127.0.0.1",
          PORT: String(s.port),
          NATS_URL: natsUrl,
          NATS_NKEY_SEED_FILE: "/run/secrets/nats_nkey_seed",
          NATS_REPLICAS: "3",
          EMIT_TOKENS: FAULT_TOKEN,
          ADMIN_TOKENS: FAULT_TOKEN,
          IDENTITY_HMAC_SECRET: "container-test-hmac-secret-0123456789",
          LOG_RPCS: "false",
          SHUTDOWN_DRAIN_DELAY_MS: "1000",
          SHUTDOWN_GRACE_MS: "3000",
        }).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
        IMAGE,
      ]);
    }
    const [one, two] = instances.map((s) => clients(s.port));
    for (const c of [one!, two!]) await untilServing(c, 60_000, "an instance SERVING against the cluster");

    // A router made on one instance is used by the other: one routers bucket, one shared durable consumer.
    const router = "cluster";
    await createScenarioRouter(one!, router, endpoint.url, "cluster", {
      batchSize: 1,
      batchIntervalMs: 50,
      maxRetries: 3,
      countdownMs: 3000,
      httpTimeoutMs: 2000,
    });
    const event = create(EventInputSchema, { event: { case: "json", value: faultEvents("cluster", 1)[0]!.json } });
    await waitUntil(
      async () => (await two!.events.transform({ event }, authed)).result?.backends.some((b) => b.routerIds.includes(router)) ?? false,
      10_000,
      "the router visible to the second instance",
    );
    const { result } = await two!.events.emit({ event }, authed);
    assert.equal(result?.outcome, Outcome.PUBLISHED, result?.reason);
    const [statementId] = result!.backends.find((b) => b.routerIds.includes(router))!.statementIds;
    await waitUntil(() => endpoint.stored.has(statementId!), 20_000, "the statement delivered from the cluster deployment");

    // The service's NKey user reaches its account; the delivery stream has three replicas, all current.
    const observer = await connectNats({ servers: natsUrl, nkeySeedFile: seedFile, name: "container-test" });
    try {
      const info = await (await jetstreamManager(observer)).streams.info(names.deliveryStream);
      assert.equal(info.config.num_replicas, 3);
      assert.equal(info.cluster?.replicas?.filter((r) => r.current).length, 2, "two followers, current");
      t.diagnostic(`delivery stream leader ${info.cluster?.leader}, ${info.state.messages} message(s)`);
    } finally {
      await observer.close();
    }
    for (const s of instances) {
      await docker(["stop", "-t", "30", s.name], { timeoutMs: 45_000 });
      assert.equal(await docker(["inspect", "-f", "{{.State.ExitCode}}", s.name]), "0", `${s.name} exits 0 on SIGTERM`);
    }
  });
});

/** Until the service's overall gRPC health says SERVING (a refused or failed check is "not yet"). */
function untilServing(c: ReturnType<typeof clients>, ms: number, what: string): Promise<void> {
  return waitUntil(
    () =>
      c.health.check({ service: "" }).then(
        (r) => r.status === HealthCheckResponse_ServingStatus.SERVING,
        () => false,
      ),
    ms,
    what,
  );
}

/**
 * Packaging: the production build runs from a clean copy of the repository with production dependencies only,
 * exactly as deploy/Dockerfile builds and starts it, and the deployment files only set variables the service
 * knows. No docker here: the Dockerfile's commands are run as they are, in temp directories, against a real
 * nats-server, and the NATS configurations are checked by nats-server itself (`-t`).
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { createUser } from "@nats-io/nkeys";
import { parse, parseAllDocuments } from "yaml";
import { CONFIG_VARS } from "../src/config.js";
import { EXIT_CONFIG } from "../src/startup/startup-errors.js";
import { ERB_FIXTURES_DIR } from "./support/erb-fixtures.js";
import { LIVENESS } from "../src/server/health.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { startCommand } from "./support/start-command.js";
import { TestRedisServer } from "./support/redis-server.js";
import { makeTlsFiles } from "./support/tls-files.js";

const exec = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DEPLOY = join(REPO, "deploy");
const KNOWN = new Set(Object.values(CONFIG_VARS).map((s) => s.name));
const read = (path: string) => readFileSync(join(REPO, path), "utf8");

// The commands deploy/Dockerfile runs, in its order; the test runs exactly these (and checks the file has them).
const BUILD_INSTALL = "npm ci --no-audit --no-fund";
const BUILD = "npm run build";
const RUNTIME_INSTALL = "npm ci --omit=dev --no-audit --no-fund";
/**
 * The production start command: `npm start`'s, which the Dockerfile, the systemd unit and the README repeat. The
 * script `exec`s it, so npm's SIGTERM reaches node rather than the shell npm runs scripts in.
 */
const { env: START_ENV, node: START } = startCommand(REPO);
const HEALTHCHECK = ["node", "dist/healthcheck.js"];

type Env = Record<string, string>;

/** Compose `environment:` as a map or a list of KEY=VALUE. */
function envNames(environment: unknown): string[] {
  if (Array.isArray(environment)) return environment.map((e) => String(e).split("=")[0]!);
  return environment && typeof environment === "object" ? Object.keys(environment) : [];
}

function composeFile(): { services: Record<string, { build?: unknown; image?: string; environment?: unknown }> } {
  return parse(read("deploy/compose/compose.yaml"), { merge: true }) as ReturnType<typeof composeFile>;
}

function kubernetesDocs(): Array<{ kind: string; metadata: { name: string }; [k: string]: unknown }> {
  const docs = parseAllDocuments(read("deploy/kubernetes/event-routing.yaml"));
  for (const d of docs) assert.deepEqual(d.errors, [], "deploy/kubernetes/event-routing.yaml parses");
  return docs.map((d) => d.toJS() as ReturnType<typeof kubernetesDocs>[number]);
}

describe("deployment files", () => {
  test("compose: the YAML parses; the service instances set only variables the config schema knows", () => {
    const services = Object.entries(composeFile().services).filter(([, s]) => s.image?.startsWith("event-routing"));
    assert.equal(services.length, 2, "two instances of the service");
    for (const [name, s] of services) {
      const unknown = envNames(s.environment).filter((v) => !KNOWN.has(v));
      assert.deepEqual(unknown, [], `${name} sets variables the service does not read`);
      assert.ok(envNames(s.environment).includes("NATS_NKEY_SEED_FILE"), `${name} authenticates to NATS`);
    }
    const consumerNames = services.map(([, s]) => (s.environment as Env)["EVENT_BUS_CONSUMER_NAME"]);
    assert.equal(new Set(consumerNames).size, 2, "each instance has its own event-bus consumer name");
  });

  test("compose: the three NATS nodes get every variable their nats.conf references", () => {
    const refs = [...read("deploy/compose/nats.conf").matchAll(/:\s*\$([A-Z_]+)/g)].map((m) => m[1]!);
    assert.ok(refs.length >= 3);
    const nodes = Object.entries(composeFile().services).filter(([name]) => name.startsWith("nats-"));
    assert.equal(nodes.length, 3);
    for (const [name, s] of nodes)
      assert.deepEqual(
        refs.filter((r) => !envNames(s.environment).includes(r)),
        [],
        name,
      );
  });

  test("kubernetes: ConfigMap, Secret and Deployment set only known variables; probes use the gRPC health service", () => {
    const docs = kubernetesDocs();
    const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
    const configMap = byKind("ConfigMap")[0] as unknown as { data: Env };
    // The Secret is made by the `kubectl create secret` command in the file's header, with generated values: a
    // Secret in the file would put example values back at every `kubectl apply`.
    assert.deepEqual(byKind("Secret"), [], "no Secret with example values in the applied file");
    const header = read("deploy/kubernetes/event-routing.yaml");
    const secretNames = [...header.matchAll(/--from-literal=([A-Z_]+)="\$\(openssl rand -hex 32\)"/g)].map((m) => m[1]!);
    assert.deepEqual(secretNames, ["EMIT_TOKENS", "ADMIN_TOKENS", "IDENTITY_HMAC_SECRET"], "tokens and key are generated");
    const secret = { stringData: Object.fromEntries([...header.matchAll(/--from-literal=([A-Z_]+)=/g)].map((m) => [m[1]!, ""])) };
    const deployment = byKind("Deployment")[0] as unknown as {
      spec: { template: { spec: { containers: Array<Record<string, unknown> & { env?: Array<{ name: string }> }> } } };
    };
    assert.ok(byKind("Service").length === 1);
    const container = deployment.spec.template.spec.containers[0]!;
    const names = [...Object.keys(configMap.data), ...Object.keys(secret.stringData), ...(container.env ?? []).map((e) => e.name)];
    assert.deepEqual(
      names.filter((v) => !KNOWN.has(v)),
      [],
    );
    assert.deepEqual(container["readinessProbe"] && Object.keys(container["readinessProbe"] as object).includes("grpc"), true);
    // Liveness on gRPC health too, on the service name that does not follow NATS.
    assert.deepEqual((container["livenessProbe"] as { grpc?: unknown }).grpc, { port: 8080, service: LIVENESS });
    const preStop = (container["lifecycle"] as { preStop?: { exec?: { command: string[] } } }).preStop;
    const preStopSeconds = Number(preStop?.exec?.command[1]);
    const spec = deployment.spec.template.spec as unknown as { terminationGracePeriodSeconds: number };
    const shutdownMs =
      preStopSeconds * 1000 + Number(configMap.data["SHUTDOWN_DRAIN_DELAY_MS"]) + Number(configMap.data["SHUTDOWN_GRACE_MS"]);
    assert.ok(shutdownMs + 5000 <= spec.terminationGracePeriodSeconds * 1000, "the grace period covers preStop, drain and grace");
    const runAsNonRoot = (deployment.spec.template.spec as unknown as { securityContext: { runAsNonRoot: boolean } }).securityContext;
    assert.equal(runAsNonRoot.runAsNonRoot, true);
  });

  test("Dockerfile, env.example and the systemd unit: known variables; non-root; health check; compiled start", () => {
    const dockerfile = read("deploy/Dockerfile");
    const dockerEnv = [...dockerfile.matchAll(/^ENV (.+)$/gm)].flatMap((m) => m[1]!.split(/\s+/).map((kv) => kv.split("=")[0]!));
    const example = [...read("deploy/env.example").matchAll(/^#?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!);
    const composeExample = read("deploy/compose/env.example");
    assert.deepEqual(
      [...dockerEnv, ...example].filter((v) => !KNOWN.has(v) && !START_ENV.some((kv) => kv.startsWith(`${v}=`))),
      [],
    );
    assert.ok(example.length > 5 && composeExample.includes("EMIT_TOKENS="));

    // RUN lines with their continuations joined. Each npm ci reads the optional CA bundle secret first (the
    // Dockerfile's header: a TLS-intercepting proxy's CA for the build, in no layer of the image).
    const runs = dockerfile
      .replace(/\\\n\s*/g, "")
      .split("\n")
      .filter((l) => l.startsWith("RUN "));
    const withCaSecret =
      "RUN --mount=type=secret,id=npm-ca if [ -s /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi && ";
    for (const cmd of [BUILD_INSTALL, RUNTIME_INSTALL])
      assert.ok(
        runs.some((l) => l.startsWith(withCaSecret + cmd)),
        cmd,
      );
    assert.ok(
      runs.some((l) => l.startsWith(`RUN ${BUILD}`)),
      BUILD,
    );
    assert.ok(dockerfile.includes(`CMD ${JSON.stringify(START).replaceAll(",", ", ")}`), "CMD starts the bundle as npm start does");
    for (const kv of START_ENV) assert.match(dockerfile, new RegExp(`^ENV ${kv}$`, "m"), `the image sets ${kv} as npm start does`);
    assert.ok(read("README.md").includes(`&& ${[...START_ENV, ...START].join(" ")}\``), "the README's production command is npm start's");
    assert.ok(dockerfile.includes(`HEALTHCHECK`) && dockerfile.includes(JSON.stringify(HEALTHCHECK).replaceAll(",", ", ")));
    assert.match(dockerfile, /^USER node$/m);
    assert.equal([...dockerfile.matchAll(/^FROM /gm)].length, 2, "multi-stage");

    const unit = read("deploy/systemd/event-routing.service");
    assert.ok(unit.includes(`\nExecStart=/usr/bin/${START.join(" ")}\n`), "systemd starts the bundle as npm start does");
    for (const kv of START_ENV) assert.ok(unit.includes(`\nEnvironment=${kv}\n`), `systemd sets ${kv} as npm start does`);
    assert.deepEqual(
      [...unit.matchAll(/^Environment=([A-Z_]+)=/gm)]
        .map((m) => m[1]!)
        .filter((v) => !KNOWN.has(v) && !START_ENV.some((kv) => kv.startsWith(`${v}=`))),
      [],
    );
  });

  test("monitoring: compose runs Prometheus on both instances' metrics with the alert rules; Kubernetes scrapes and keeps one pod", () => {
    // Compose: the Prometheus service mounts its configuration and the rules at the paths the configuration names.
    const compose = composeFile() as unknown as { services: Record<string, { volumes?: string[]; environment?: Env }> };
    const prom = compose.services["prometheus"];
    assert.ok(prom, "a prometheus service");
    const mounts = new Map((prom.volumes ?? []).map((v) => [v.split(":")[1]!, v.split(":")[0]!]));
    const config = parse(read("deploy/compose/prometheus.yml")) as {
      rule_files: string[];
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    assert.equal(mounts.get("/etc/prometheus/prometheus.yml"), "./prometheus.yml");
    for (const rules of config.rule_files) assert.equal(mounts.get(rules), "../prometheus/alerts.yml", rules);
    const alerts = parse(read("deploy/prometheus/alerts.yml")) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
    const rules = alerts.groups.flatMap((g) => g.rules);
    assert.ok(rules.length >= 5);
    // The job the rules use is the job that scrapes; its targets are the service instances at their METRICS_PORT.
    const job = /up\{job="([^"]+)"\}/.exec(rules.map((r) => r.expr).join("\n"))![1];
    const scrape = config.scrape_configs.find((c) => c.job_name === job);
    assert.ok(scrape, `a scrape job named ${job}`);
    const instances = Object.entries(compose.services).filter(([name]) => name.startsWith("event-routing-"));
    assert.deepEqual(
      scrape.static_configs.flatMap((c) => c.targets).sort(),
      instances.map(([name, svc]) => `${name}:${(svc.environment as Env)["METRICS_PORT"]}`).sort(),
    );

    // Kubernetes: the annotations and the Service's metrics port point at METRICS_PORT; a PodDisruptionBudget
    // selects the Deployment's pods and leaves one of them up.
    const docs = kubernetesDocs() as unknown as Array<Record<string, any>>;
    const byKind = (kind: string) => docs.filter((d) => d["kind"] === kind);
    const metricsPort = Number(byKind("ConfigMap")[0]!["data"]["METRICS_PORT"]);
    const deployment = byKind("Deployment")[0]!;
    const pod = deployment["spec"]["template"];
    assert.equal(pod["metadata"]["annotations"]["prometheus.io/scrape"], "true");
    assert.equal(Number(pod["metadata"]["annotations"]["prometheus.io/port"]), metricsPort);
    const ports = pod["spec"]["containers"][0]["ports"] as Array<{ name: string; containerPort: number }>;
    assert.equal(ports.find((p) => p.name === "metrics")?.containerPort, metricsPort);
    const servicePorts = byKind("Service")[0]!["spec"]["ports"] as Array<{ name: string; targetPort: string }>;
    assert.equal(servicePorts.find((p) => p.name === "metrics")?.targetPort, "metrics");
    const pdb = byKind("PodDisruptionBudget")[0];
    assert.ok(pdb, "a PodDisruptionBudget");
    assert.equal(pdb["apiVersion"], "policy/v1");
    assert.deepEqual(pdb["spec"]["selector"]["matchLabels"], deployment["spec"]["selector"]["matchLabels"]);
    assert.ok(pdb["spec"]["minAvailable"] >= 1 && pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]);
  });

  test("systemd does not restart a configuration error; the image has a writable state directory for replay's checkpoint", () => {
    const unit = read("deploy/systemd/event-routing.service");
    assert.equal(EXIT_CONFIG, 2);
    assert.match(unit, new RegExp(`^RestartPreventExitStatus=${EXIT_CONFIG}$`, "m"));
    assert.match(unit, /^Restart=on-failure$/m);
    const dockerfile = read("deploy/Dockerfile");
    assert.match(dockerfile, /mkdir -p \/var\/lib\/event-routing && chown node:node \/var\/lib\/event-routing/);
    const deployReadme = read("deploy/README.md");
    assert.match(deployReadme, /-v event-routing-replay:\/var\/lib\/event-routing\b/);
    assert.match(deployReadme, /event-routing replay --checkpoint \/var\/lib\/event-routing\/replay-checkpoint\.json/);
  });

  test("the event-bus producer is executable and the README's command runs with the Debian Python against a real Redis", async () => {
    const script = "test/clients/event_bus_producer.py";
    const { stdout: mode } = await exec("git", ["ls-files", "-s", script], { cwd: REPO });
    assert.match(mode, /^100755 /, "git mode +x");
    assert.match(read(script), /^#!\/usr\/bin\/python3\n/, "the Python that has python3-redis and python3-avro");
    const command = /LMS does: `([^`]+)`/.exec(read("README.md"))?.[1] ?? "";
    assert.ok(command?.startsWith(`${script} redis://127.0.0.1:6379 openedx-analytics fixtures DIR`), command);
    const redis = await TestRedisServer.start();
    try {
      const run = command.replace("redis://127.0.0.1:6379", redis.url).replace(/DIR$/, join(ERB_FIXTURES_DIR, "raw"));
      // A python3 first on the PATH without the modules (a virtualenv, pyenv) must not matter.
      const shim = mkdtempSync(join(tmpdir(), "er-pyshim-"));
      writeFileSync(join(shim, "python3"), "#!/bin/sh\necho 'not this python' >&2; exit 1\n", { mode: 0o755 });
      const { stdout } = await exec("bash", ["-c", run], { cwd: REPO, env: { ...process.env, PATH: `${shim}:${process.env["PATH"]}` } });
      rmSync(shim, { recursive: true, force: true });
      const lines = stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { entry_id: string });
      assert.ok(lines.length > 10 && lines.every((l) => /^\d+-\d+$/.test(l.entry_id)));
    } finally {
      await redis.close();
    }
  });

  test("the NATS configurations are valid for nats-server (accounts, NKey users, TLS files)", async () => {
    const bin = process.env["NATS_SERVER_BIN"] ?? "nats-server";
    const key = () => createUser().getPublicKey();
    const tls = makeTlsFiles();
    const dir = mkdtempSync(join(tmpdir(), "er-natsconf-"));
    try {
      // The production node: certificate paths and the store pointed at temp files, the rest as written.
      const conf = read("deploy/nats/cluster-node.conf")
        .replace(/\/etc\/nats-server\/tls\/ca\.pem/g, tls.caFile)
        .replace(/\/etc\/nats-server\/tls\/\w+\.pem/g, tls.certFile)
        .replace(/\/etc\/nats-server\/tls\/\w+\.key/g, tls.keyFile)
        .replace("/var/lib/nats-server", dir);
      assert.match(conf, /tls \{[^}]*verify: true/);
      assert.match(conf, /cluster \{[\s\S]*tls \{/);
      writeFileSync(join(dir, "node.conf"), conf);
      const env = { ...process.env, EVENT_ROUTING_NKEY: key(), INGEST_PRODUCER_NKEY: key(), NATS_SYS_PASSWORD: "x" };
      const prod = await exec(bin, ["-c", join(dir, "node.conf"), "-t"], { env });
      assert.match(prod.stdout + prod.stderr, /is valid/);
      const compose = await exec(bin, ["-c", join(DEPLOY, "compose/nats.conf"), "-t"], { env: { ...env, NATS_SERVER_NAME: "nats-1" } });
      assert.match(compose.stdout + compose.stderr, /is valid/);
      // And -t does check: a wrong key is refused, so the two passes above mean something.
      await assert.rejects(
        exec(bin, ["-c", join(DEPLOY, "compose/nats.conf"), "-t"], { env: { ...env, NATS_SERVER_NAME: "n", EVENT_ROUTING_NKEY: "UBAD" } }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The repository's files as a clean checkout has them (tracked, plus new files not ignored). */
async function copyCheckout(to: string): Promise<void> {
  const { stdout } = await exec("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: REPO,
    maxBuffer: 16 << 20,
  });
  for (const file of stdout.split("\0").filter(Boolean)) {
    if (!existsSync(join(REPO, file))) continue; // deleted in the work tree, not yet committed
    mkdirSync(dirname(join(to, file)), { recursive: true });
    cpSync(join(REPO, file), join(to, file));
  }
}

async function sh(cmd: string, cwd: string): Promise<{ stdout: string; stderr: string }> {
  return exec("bash", ["-c", cmd], { cwd, timeout: 300_000, maxBuffer: 16 << 20 });
}

describe("a clean copy builds and runs from dist/ with production dependencies only", { timeout: 600_000 }, () => {
  let root: string;
  let build: string;
  let app: string;
  let nats: TestNatsServer;
  let runtimeInstall: { stdout: string; stderr: string };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "er-clean-"));
    build = join(root, "build");
    app = join(root, "app");
    await copyCheckout(build);
    // The build stage: the dev tree (this work tree's, already installed: the same lockfile) and `npm run build`.
    symlinkSync(join(REPO, "node_modules"), join(build, "node_modules"));
    await sh(BUILD, build);
    // The runtime stage: package files, production install (from the local cache when it has the packages), dist.
    mkdirSync(app);
    for (const f of ["package.json", "package-lock.json"]) cpSync(join(build, f), join(app, f));
    runtimeInstall = await sh(`${RUNTIME_INSTALL} --prefer-offline`, app);
    cpSync(join(build, "dist"), join(app, "dist"), { recursive: true });
    nats = await startNatsServer();
  });

  after(async () => {
    await nats?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test("the production install has no engine warning, nuid supports Node 20, and no dev tool is installed", async () => {
    assert.doesNotMatch(runtimeInstall.stdout + runtimeInstall.stderr, /EBADENGINE/);
    // nats.js pins @nats-io/nuid 3.0.0, which declares Node >= 22; package.json overrides it with 2.0.3 (Node >= 18).
    const nuids = JSON.parse((await sh("npm query '#@nats-io/nuid'", app)).stdout) as Array<{ version: string; engines: { node: string } }>;
    assert.ok(nuids.length > 0);
    for (const nuid of nuids) assert.deepEqual([nuid.version, nuid.engines.node], ["2.0.3", ">= 18.x"]);
    await sh("npm ls --omit=dev --all >/dev/null", app); // a consistent tree: exits non-zero on invalid or missing
    // yaml is a runtime dependency: the operator CLI reads router files in YAML.
    for (const devOnly of ["tsx", "esbuild", "typescript", "@biomejs/biome"]) {
      assert.equal(existsSync(join(app, "node_modules", devOnly)), false, `${devOnly} is not installed`);
    }
  });

  test("dist/main.js --help and the CLI run; the CLI transforms an event", async () => {
    const help = await exec("node", ["dist/main.js", "--help"], { cwd: app });
    assert.match(help.stdout, /NATS_URL/);
    const usage = await exec("node", ["dist/cli/main.js", "--help"], { cwd: app });
    assert.match(usage.stdout, /transform --backend/);
    const event = {
      name: "edx.course.enrollment.activated",
      timestamp: "2023-07-10T09:23:10.354202+00:00",
      context: { user_id: 7, course_id: "course-v1:edX+DemoX+Demo_Course", org_id: "edX" },
      data: { course_id: "course-v1:edX+DemoX+Demo_Course", user_id: 7, mode: "audit" },
    };
    writeFileSync(join(root, "event.json"), JSON.stringify(event));
    const out = await exec("node", ["dist/cli/main.js", "transform", "--backend", "xapi", join(root, "event.json")], { cwd: app });
    // One line per input: {input, event, statements}.
    const { statements } = JSON.parse(out.stdout) as { statements: Array<{ verb: { id: string } }> };
    assert.equal(statements[0]?.verb.id, "http://adlnet.gov/expapi/verbs/registered");
  });

  test("the CLI runs the build in a production install: the package's bin, npm run cli, and the image's command", async () => {
    const pkg = JSON.parse(read("package.json")) as { bin: Record<string, string> };
    assert.deepEqual(pkg.bin, { "event-routing": "dist/cli/main.js" });
    const bin = join(app, "dist/cli/main.js");
    assert.match(readFileSync(bin, "utf8"), /^#!\/usr\/bin\/env node\n/, "a shebang");
    assert.ok((statSync(bin).mode & 0o111) !== 0, "executable");
    // tsx is not installed here: before the bin, `npm run cli` failed with ERR_MODULE_NOT_FOUND.
    for (const cmd of ["./dist/cli/main.js --help", "npm run -s cli -- --help", "npx --offline event-routing --help"]) {
      const r = await sh(cmd, app);
      assert.match(r.stdout, /event-routing transform --backend/, cmd);
    }
    // The image links the bin into /usr/local/bin: run through such a link from another directory, it still finds
    // its packages in the app's node_modules (node resolves the link's target).
    const binDir = join(root, "usr-local-bin");
    mkdirSync(binDir);
    symlinkSync(bin, join(binDir, "event-routing"));
    const linked = await exec(join(binDir, "event-routing"), ["status", "--help"], { cwd: tmpdir() });
    assert.match(linked.stdout, /event-routing status/);
    // The image puts the same command on the PATH (npx needs a writable npm cache, which a read-only root lacks).
    assert.match(read("deploy/Dockerfile"), /^RUN ln -s \/app\/dist\/cli\/main\.js \/usr\/local\/bin\/event-routing( \\)?$/m);
    // One form in the operator docs: no `node dist/cli/main.js` left to copy.
    for (const doc of ["README.md", "docs/operations.md", "deploy/README.md", "deploy/kubernetes/event-routing.yaml"])
      assert.doesNotMatch(read(doc), /node dist\/cli\/main\.js/, doc);
  });

  test("node dist/main.js serves against NATS: the image's health check says SERVING, reflection lists the services; SIGTERM exits 0", async () => {
    const child = spawn(START[0]!, START.slice(1), {
      cwd: app,
      env: {
        PATH: process.env["PATH"] ?? "",
        NATS_URL: nats.url,
        PORT: "0",
        EMIT_TOKENS: "packaging-emit-token-0123456789",
        ADMIN_TOKENS: "packaging-admin-token-0123456789",
        IDENTITY_HMAC_SECRET: "packaging-test-secret-0123456789",
        SHUTDOWN_DRAIN_DELAY_MS: "0",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      const port = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (b: Buffer) => {
          out += b;
          const m = /"address":"[^"]*:(\d+)".*event-routing listening/.exec(out);
          if (m) resolve(m[1]!);
        });
        void exited.then((code) => reject(new Error(`exited ${code} before listening: ${out}${stderr}`)));
      });
      const health = await exec(HEALTHCHECK[0]!, HEALTHCHECK.slice(1), { cwd: app, env: { ...process.env, PORT: port } });
      assert.equal(health.stdout.trim(), "SERVING");
      // Reflection serves the descriptors bundled into dist/ (buf curl needs no schema).
      const buf = join(REPO, "node_modules/.bin/buf");
      const list = await exec(buf, ["curl", "--list-services", `http://127.0.0.1:${port}`], { timeout: 60_000 });
      assert.match(list.stdout, /eventrouting\.v1\.EventRoutingService/);
      assert.match(list.stdout, /eventrouting\.v1\.RouterAdminService/);
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0, stderr);
  });

  test("the health check fails (exit 1, one line) when nothing answers", async () => {
    const r = await exec(HEALTHCHECK[0]!, HEALTHCHECK.slice(1), { cwd: app, env: { ...process.env, PORT: "1" } }).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^health check failed: .*ECONNREFUSED/);
  });
});

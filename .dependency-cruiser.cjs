/**
 * The architecture of docs/architecture.md as checked rules: `npm test` (scripts/test.sh, "== dependency rules") and
 * `npm run deps` fail on an import that goes against the picture, naming the rule and saying why it exists. A rule
 * here and the diagram there change together.
 *
 * Only src/ and console/src/ are cruised: tests and benchmarks may reach anything (test/support starts the whole
 * service through src/service.ts on purpose).
 *
 * CommonJS because dependency-cruiser loads its configuration with require(); the package is "type": "module".
 */

/** The folders of src/ that talk to the outside world (NATS, Redis, HTTP, files, processes) or build servers. */
const IO_FOLDERS = [
  "admin",
  "cli",
  "console",
  "delivery",
  "directory",
  "erasure",
  "ingest",
  "mappings",
  "metrics",
  "nats",
  "output",
  "routing",
  "server",
  "startup",
];

/** Node built-ins that do I/O. node:crypto (hashing for statement ids) is pure computation and stays allowed. */
const IO_BUILTINS = [
  "child_process",
  "cluster",
  "dgram",
  "dns",
  "fs",
  "fs/promises",
  "http",
  "http2",
  "https",
  "net",
  "readline",
  "tls",
  "worker_threads",
];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "transform-is-pure",
      comment:
        "src/transform/ turns one event into statements and nothing else: it must not reach NATS, Redis, HTTP, " +
        "files or any I/O layer of src/, so it stays unit-testable without a network and reusable offline " +
        "(the CLI's transform and inspect commands). Put the I/O in the caller (ingest/, routing/).",
      severity: "error",
      from: { path: "^src/transform/" },
      to: {
        path: [
          `^src/(${IO_FOLDERS.join("|")})/`,
          "^src/(service|main|config|healthcheck)\\.ts$",
          // The configuration as a folder of one module per area, as issue 22 plans it: the same rule applies.
          "^src/config/",
          "^node_modules/@nats-io/",
          "^node_modules/@redis/",
          "^node_modules/@connectrpc/",
          "^node_modules/(pino|prom-client|rotating-file-stream)/",
        ],
      },
    },
    {
      name: "transform-no-io-builtins",
      comment:
        "src/transform/ must not use Node's I/O built-ins (fs, net, http, child_process...): a transformer is a " +
        "pure function of the event and its environment (transform-env.ts).",
      severity: "error",
      from: { path: "^src/transform/" },
      to: { dependencyTypes: ["core"], path: `^(node:)?(${IO_BUILTINS.join("|")})$` },
    },
    {
      name: "routing-not-delivery",
      comment:
        "src/routing/ decides where a statement goes and publishes it to JetStream; src/delivery/ consumes from " +
        "JetStream apart. The two meet only through the stream and the types in src/routing/ " +
        "(delivery-message.ts, router-status-contract.ts): routing must never import delivery.",
      severity: "error",
      from: { path: "^src/routing/" },
      to: { path: "^src/delivery/" },
    },
    {
      name: "no-import-of-service",
      comment:
        "src/service.ts is the composition root: it imports every layer, so a module importing it back makes a " +
        "cycle and hides a dependency. Only the entry point src/main.ts starts it (tests may, they are not cruised).",
      severity: "error",
      from: { path: "^(src|console/src)/", pathNot: "^src/main\\.ts$" },
      to: { path: "^src/service\\.ts$" },
    },
    {
      name: "no-import-of-main",
      comment:
        "src/main.ts is the process entry point (reads the environment, installs signal handlers, exits): " +
        "nothing may import it. Move what is needed into a module of its own.",
      severity: "error",
      from: { path: "^(src|console/src)/" },
      to: { path: "^src/main\\.ts$" },
    },
    {
      name: "no-cycles",
      comment:
        "An import cycle makes load order matter and two modules one: move the shared part (usually a type) " +
        "into a module both import (as console/src/page.ts does for the console's pages).",
      severity: "error",
      from: { path: "^(src|console/src)/" },
      to: { circular: true },
    },
    {
      name: "not-to-unresolvable",
      comment: "An import that does not resolve would make every other rule blind to it: fix the path, or add the package.",
      severity: "error",
      from: { path: "^(src|console/src)/" },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // The .js specifiers of NodeNext resolve to the .ts sources through the TypeScript configuration.
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".json"],
    },
    // Packages are leaves: their own imports are not ours to check (and not excluded, or the rules on
    // @nats-io/* and @redis/* would see nothing).
    exclude: { path: "^dist/" },
  },
};

/**
 * `routers list|get|create|update|delete|test`. get shows every setting (router-view.ts); test asks the service to
 * send one probe request to the endpoint (TestRouter). create/update take a JSON or YAML file (-f) or flags (router-input.ts);
 * update sends an update mask of exactly the fields given, so everything else is kept. delete needs --yes: it
 * removes the router's backlog and stored secrets.
 */
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { Backend } from "../../gen/eventrouting/v1/event_pb.js";
import {
  RouterSchema,
  type Router,
  type TestRouterResponse,
  TestRouterResponseSchema,
} from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { type CommandHelp, type FlagHelp, REMOTE_ENV, REMOTE_FLAGS, renderHelp, subcommandUsage, wantsHelp } from "./help.js";
import { EXIT, UsageError } from "./exit-codes.js";
import { connectRemote, guarded, REMOTE_OPTIONS, table, type Io, type Remote } from "./remote.js";
import { routerDetails } from "./router-view.js";
import { fillSecrets, ROUTER_FLAG_OPTIONS, routerFromFile, routerFromFlags, type RouterDraft } from "./router-input.js";

const SECRET_ENV = [
  ["EVENT_ROUTING_ROUTER_PASSWORD", "the basic-auth password (else from the file, else a prompt on a terminal)"],
  ["EVENT_ROUTING_ROUTER_TOKEN", "the bearer token (else from the file, else a prompt on a terminal)"],
  ["EVENT_ROUTING_ROUTER_CLIENT_SECRET", "the OAuth 2 client secret (else from the file, else a prompt on a terminal)"],
] as const;

const ROUTER_FLAGS: readonly FlagHelp[] = [
  { flag: "-f, --file FILE", text: "the router as JSON or YAML: the Router message in protobuf JSON (snake_case or camelCase)" },
  { flag: "--id ID", text: "the router id" },
  { flag: "--display-name NAME", text: "a name for people" },
  { flag: "--backend xapi|caliper", text: "what the router receives" },
  { flag: "--endpoint-url URL", text: "the LRS base URL (xAPI: /statements is added) or the Caliper endpoint" },
  { flag: "--enabled, --disabled", text: "deliver or keep the backlog" },
  { flag: "--auth none|basic|bearer|oauth2", text: "how the endpoint authenticates us; secrets never come from flags" },
  { flag: "--username USER", text: "the basic-auth user (with --auth basic)" },
  { flag: "--token-url URL", text: "the OAuth 2 token endpoint (with --auth oauth2: client credentials grant)" },
  { flag: "--client-id ID", text: "the OAuth 2 client id (with --auth oauth2)" },
  { flag: "--scope SCOPE", text: "optional: the OAuth 2 scope to request, space-separated (with --auth oauth2)" },
  { flag: "--audience URI", text: "optional: the API the token is for, sent as audience and resource (with --auth oauth2)" },
  { flag: "--batch-size N", text: "statements per HTTP request (1: no batching)" },
  { flag: "--batch-interval DURATION", text: "longest wait before a partial batch is sent, e.g. 200ms, 5s" },
  { flag: "--max-retries N", text: "retries after the first attempt" },
  { flag: "--countdown DURATION", text: "wait before a delivery is retried, e.g. 30s, 1m30s" },
  { flag: "--http-timeout DURATION", text: "HTTP request timeout, e.g. 10s (shorter than the countdown)" },
  { flag: "--rate-limit N/DURATION", text: "at most N requests per period across instances, e.g. 3000/1m; none removes it" },
  {
    flag: "--exhausted keep-all|keep-critical",
    text: "statements out of attempts: all to the failed stream (default), or only critical events' (the rest dropped, logged)",
  },
];

const REMOTE_ONLY = { ...REMOTE_OPTIONS } as const;
const WRITE_OPTIONS = { ...REMOTE_OPTIONS, ...ROUTER_FLAG_OPTIONS } as const;
const DELETE_OPTIONS = { ...REMOTE_OPTIONS, yes: { type: "boolean", default: false } } as const;
const ALL_OPTIONS = { ...WRITE_OPTIONS, ...DELETE_OPTIONS } as const;

/** Each subcommand: the options its parser accepts and its --help (test/cli-help.test.ts holds them together). */
export const ROUTERS_COMMANDS = {
  list: {
    options: REMOTE_ONLY,
    help: {
      synopsis: ["routers list"],
      about: "Every router: id, backend, enabled, endpoint, auth, revision.",
      flags: REMOTE_FLAGS,
      env: REMOTE_ENV,
    },
  },
  get: {
    options: REMOTE_ONLY,
    help: {
      synopsis: ["routers get ID"],
      about: "One router with every setting (secrets are never shown).",
      flags: REMOTE_FLAGS,
      env: REMOTE_ENV,
    },
  },
  create: {
    options: WRITE_OPTIONS,
    help: {
      synopsis: ["routers create -f ROUTER.yaml|.json", "routers create --id ID --backend xapi|caliper --endpoint-url URL [flags]"],
      about:
        "Creates a router from a file or from flags. Durations, in a file (delivery.batch_interval, countdown, backoff,\n" +
        "http_timeout, rate_limit.period) or a flag: 200ms, 30s, 1m30s, 2h, 1.5s.",
      flags: [...ROUTER_FLAGS, ...REMOTE_FLAGS],
      env: [...REMOTE_ENV, ...SECRET_ENV],
    },
  },
  update: {
    options: WRITE_OPTIONS,
    help: {
      synopsis: ["routers update ID (-f FILE | flags as for create)"],
      about: "Changes exactly the fields given (an update mask): everything else is kept, an empty secret keeps the stored one.",
      flags: [...ROUTER_FLAGS, ...REMOTE_FLAGS],
      env: [...REMOTE_ENV, ...SECRET_ENV],
    },
  },
  test: {
    options: REMOTE_ONLY,
    help: {
      synopsis: ["routers test ID"],
      about:
        "Sends one probe request to the router's endpoint with its credentials and headers and reports the answer\n" +
        "(TestRouter): xAPI GET <endpoint>/about, Caliper POST an envelope with no events. Nothing is stored.\n" +
        "Exit 0 when the endpoint accepted it, 3 when it did not answer or is unavailable, 5 when it refused.",
      flags: REMOTE_FLAGS,
      env: REMOTE_ENV,
    },
  },
  delete: {
    options: DELETE_OPTIONS,
    help: {
      synopsis: ["routers delete ID --yes"],
      about: "Deletes the router with its undelivered statements and stored secrets.",
      flags: [{ flag: "--yes", text: "confirm: the backlog and the secrets are removed" }, ...REMOTE_FLAGS],
      env: REMOTE_ENV,
    },
  },
} satisfies Record<string, { options: Record<string, unknown>; help: CommandHelp }>;

type RoutersSub = keyof typeof ROUTERS_COMMANDS;

export const ROUTERS_USAGE = subcommandUsage(ROUTERS_COMMANDS);

function authName(r: Router): string {
  const k = r.auth?.kind;
  if (k?.case === "basic") return `basic (${k.value.username})`;
  return k?.case ?? "none";
}

function print(remote: Remote, io: Io, routers: readonly Router[], one: boolean): void {
  if (remote.json) {
    const json = routers.map((r) => toJson(RouterSchema, r));
    io.out.write(`${JSON.stringify(one ? json[0] : json)}\n`);
    return;
  }
  io.out.write(
    table(
      ["ID", "BACKEND", "ENABLED", "ENDPOINT", "AUTH", "REVISION"],
      routers.map((r) => [
        r.id,
        Backend[r.backend]?.toLowerCase(),
        r.enabled ? "yes" : "no",
        r.endpointUrl,
        authName(r),
        String(r.revision),
      ]),
    ),
  );
}

function warn(io: Io, warnings: readonly string[]): void {
  for (const w of warnings) io.err.write(`warning: ${w}\n`);
}

function draft(values: Record<string, unknown>, id: string | undefined): RouterDraft {
  const flags = { ...values } as Parameters<typeof routerFromFlags>[0];
  const fromFlags = Object.keys(ROUTER_FLAG_OPTIONS).some((k) => k !== "file" && values[k] !== undefined);
  if (values["file"] !== undefined && fromFlags) throw new UsageError("give the router as -f FILE or as flags, not both");
  const d = values["file"] !== undefined ? routerFromFile(String(values["file"])) : routerFromFlags(flags);
  if (id !== undefined) {
    if (d.router.id !== "" && d.router.id !== id) throw new UsageError(`the router id cannot be changed (${id} -> ${d.router.id})`);
    d.router.id = id;
  }
  if (d.router.id === "") throw new UsageError("the router needs an id (--id or id: in the file)");
  return d;
}

export async function runRouters(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  const known = sub !== undefined && Object.hasOwn(ROUTERS_COMMANDS, sub) ? (sub as RoutersSub) : undefined;
  if (wantsHelp(args)) {
    io.out.write(known ? renderHelp(ROUTERS_COMMANDS[known].help) : `Usage:\n${ROUTERS_USAGE}\nrouters SUBCOMMAND --help for its flags.\n`);
    return EXIT.ok;
  }
  const { values, positionals } = parseRoutersArgs(rest, known);
  return guarded(io, values.debug, async () => {
    if (known === undefined) throw new UsageError(`routers: expected ${Object.keys(ROUTERS_COMMANDS).join(", ")}\n${ROUTERS_USAGE}`);
    const id = positionals[0];
    const needId = () => {
      if (!id) throw new UsageError(`routers ${sub} needs a router id`);
      return id;
    };
    return RUN_SUBCOMMAND[known]({ values, io, id, needId });
  });
}

function parseRoutersArgs(args: string[], known: RoutersSub | undefined) {
  return parseArgs({
    args,
    // Typed as the union of every subcommand's options; at run time only the subcommand's own are accepted.
    options: (known ? ROUTERS_COMMANDS[known].options : REMOTE_OPTIONS) as typeof ALL_OPTIONS,
    allowPositionals: true,
    strict: true,
  });
}

/** One subcommand's call: its flags, and its router id (`needId` throws the usage error when there is none). */
interface Invocation {
  readonly values: ReturnType<typeof parseRoutersArgs>["values"];
  readonly io: Io;
  readonly id: string | undefined;
  needId(): string;
}

const RUN_SUBCOMMAND: Record<RoutersSub, (call: Invocation) => Promise<number>> = {
  async list({ values, io }) {
    const remote = connectRemote(values, io.env);
    print(remote, io, (await remote.routers.listRouters({})).routers, false);
    return EXIT.ok;
  },
  async get({ values, io, needId }) {
    const routerId = needId();
    const remote = connectRemote(values, io.env);
    const res = await remote.routers.getRouter({ id: routerId });
    if (remote.json || !res.router) print(remote, io, res.router ? [res.router] : [], true);
    else io.out.write(routerDetails(res.router));
    return EXIT.ok;
  },
  async test({ values, io, needId }) {
    const routerId = needId();
    const remote = connectRemote(values, io.env);
    const res = await remote.routers.testRouter({ id: routerId });
    printProbe(remote, io, res);
    if (res.ok) return EXIT.ok;
    return res.httpStatus === 0 || res.httpStatus >= 500 || res.httpStatus === 429 ? EXIT.unavailable : EXIT.refused;
  },
  async create({ values, io, id }) {
    const d = draft(values, id);
    const remote = connectRemote(values, io.env);
    await fillSecrets(d.router, io, true);
    const res = await remote.routers.createRouter({ router: d.router });
    warn(io, res.warnings);
    print(remote, io, res.router ? [res.router] : [], true);
    return EXIT.ok;
  },
  async update({ values, io, needId }) {
    const d = draft(values, needId());
    if (d.fields.filter((f) => f !== "id").length === 0) throw new UsageError("nothing to update: give -f FILE or at least one field flag");
    const remote = connectRemote(values, io.env);
    await fillSecrets(d.router, io, d.fields.includes("auth") || d.fields.includes("endpoint_url"));
    const paths = d.fields.filter((f) => f !== "id");
    const res = await remote.routers.updateRouter({ router: d.router, updateMask: { paths } });
    warn(io, res.warnings);
    print(remote, io, res.router ? [res.router] : [], true);
    return EXIT.ok;
  },
  async delete({ values, io, needId }) {
    const routerId = needId();
    if (!values.yes) throw new UsageError(`routers delete ${routerId} removes its undelivered statements and secrets: add --yes`);
    const remote = connectRemote(values, io.env);
    await remote.routers.deleteRouter({ id: routerId });
    if (!remote.json) io.out.write(`deleted ${routerId}\n`);
    else io.out.write(`${JSON.stringify({ deleted: routerId })}\n`);
    return EXIT.ok;
  },
};

/** TestRouter's answer: the request, the endpoint's answer and its verdict (or the whole response as JSON). */
function printProbe(remote: Remote, io: Io, res: TestRouterResponse): void {
  if (remote.json) {
    io.out.write(`${JSON.stringify(toJson(TestRouterResponseSchema, res, { alwaysEmitImplicit: true }))}\n`);
    return;
  }
  const ms = res.latency ? Math.round(Number(res.latency.seconds) * 1000 + res.latency.nanos / 1e6) : 0;
  const answer = res.httpStatus === 0 ? "no answer" : `HTTP ${res.httpStatus}`;
  io.out.write(`${res.method} ${res.url}\n${answer} in ${ms} ms: ${res.verdict}\n`);
  if (res.xapiVersions.length > 0) io.out.write(`xAPI versions: ${res.xapiVersions.join(", ")}\n`);
  if (!res.ok && res.detail !== "") io.out.write(`answer: ${res.detail}\n`);
}

/**
 * `routers list|get|create|update|delete`. create/update take a JSON or YAML file (-f) or flags (router-input.ts);
 * update sends an update mask of exactly the fields given, so everything else is kept. delete needs --yes: it
 * removes the router's backlog and stored secrets.
 */
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { Backend } from "../../gen/eventrouting/v1/event_pb.js";
import { RouterSchema, type Router } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { connectRemote, EXIT, guarded, REMOTE_OPTIONS, table, UsageError, type Io, type Remote } from "./remote.js";
import { fillSecrets, ROUTER_FLAG_OPTIONS, routerFromFile, routerFromFlags, type RouterDraft } from "./router-input.js";

export const ROUTERS_USAGE = `  event-routing routers list
  event-routing routers get ID
  event-routing routers create (-f ROUTER.yaml|.json | --id ID --backend xapi|caliper --endpoint-url URL
                                 [--display-name N] [--enabled|--disabled] [--auth none|basic|bearer] [--username U])
  event-routing routers update ID (-f FILE | flags as create)
  event-routing routers delete ID --yes
`;

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
  const fromFlags = ["id", "display-name", "backend", "endpoint-url", "enabled", "disabled", "auth", "username"].some(
    (k) => values[k] !== undefined,
  );
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
  const { values, positionals } = parseArgs({
    args: rest,
    options: { ...REMOTE_OPTIONS, ...ROUTER_FLAG_OPTIONS, yes: { type: "boolean", default: false } },
    allowPositionals: true,
    strict: true,
  });
  return guarded(io, values.debug, async () => {
    const id = positionals[0];
    const needId = () => {
      if (!id) throw new UsageError(`routers ${sub} needs a router id`);
      return id;
    };
    switch (sub) {
      case "list": {
        const remote = connectRemote(values, io.env);
        print(remote, io, (await remote.routers.listRouters({}, remote.callOptions)).routers, false);
        return EXIT.ok;
      }
      case "get": {
        const routerId = needId();
        const remote = connectRemote(values, io.env);
        const res = await remote.routers.getRouter({ id: routerId }, remote.callOptions);
        print(remote, io, res.router ? [res.router] : [], true);
        return EXIT.ok;
      }
      case "create": {
        const d = draft(values, id);
        const remote = connectRemote(values, io.env);
        await fillSecrets(d.router, io, true);
        const res = await remote.routers.createRouter({ router: d.router }, remote.callOptions);
        warn(io, res.warnings);
        print(remote, io, res.router ? [res.router] : [], true);
        return EXIT.ok;
      }
      case "update": {
        const d = draft(values, needId());
        if (d.fields.filter((f) => f !== "id").length === 0)
          throw new UsageError("nothing to update: give -f FILE or at least one field flag");
        const remote = connectRemote(values, io.env);
        await fillSecrets(d.router, io, d.fields.includes("auth") || d.fields.includes("endpoint_url"));
        const paths = d.fields.filter((f) => f !== "id");
        const res = await remote.routers.updateRouter({ router: d.router, updateMask: { paths } }, remote.callOptions);
        warn(io, res.warnings);
        print(remote, io, res.router ? [res.router] : [], true);
        return EXIT.ok;
      }
      case "delete": {
        const routerId = needId();
        if (!values.yes) throw new UsageError(`routers delete ${routerId} removes its undelivered statements and secrets: add --yes`);
        const remote = connectRemote(values, io.env);
        await remote.routers.deleteRouter({ id: routerId }, remote.callOptions);
        if (!remote.json) io.out.write(`deleted ${routerId}\n`);
        else io.out.write(`${JSON.stringify({ deleted: routerId })}\n`);
        return EXIT.ok;
      }
      default:
        throw new UsageError(`routers: expected list, get, create, update or delete\n${ROUTERS_USAGE}`);
    }
  });
}

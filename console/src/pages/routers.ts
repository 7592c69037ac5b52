/**
 * Routers: every router with its delivery state (GetRouterStatus) and the actions an operator takes on one.
 * Enable/disable is an UpdateRouter with update_mask ["enabled"] and the listed revision, so a change made
 * meanwhile elsewhere is refused (Aborted) instead of overwritten.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Backend } from "../../../gen/eventrouting/v1/event_pb.js";
import { RouterState, type Router, type RouterStatus } from "../../../gen/eventrouting/v1/router_admin_service_pb.js";
import { describeError } from "../api.js";
import { breakableUrl, clear, formatTime, h, statusLine } from "../dom.js";
import type { Page, PageContext } from "../page.js";

export const BACKEND_LABEL: Record<Backend, string> = {
  [Backend.UNSPECIFIED]: "—",
  [Backend.XAPI]: "xAPI",
  [Backend.CALIPER]: "Caliper",
};

export const STATE_LABEL: Record<RouterState, string> = {
  [RouterState.UNSPECIFIED]: "unknown",
  [RouterState.ACTIVE]: "active",
  [RouterState.DISABLED]: "disabled",
  [RouterState.PAUSED]: "paused",
  [RouterState.FAILING]: "failing",
  [RouterState.UNHEALTHY]: "unhealthy",
  [RouterState.NOT_RUNNING_HERE]: "not delivering here",
};

/** enabled/disabled plus the delivery state when it says more (paused, failing, ...). */
export function stateText(router: Router, status: RouterStatus | undefined): string {
  if (!router.enabled) return "disabled";
  return status ? STATE_LABEL[status.state] : "enabled";
}

export async function setEnabled(ctx: PageContext, router: Router, enabled: boolean): Promise<void> {
  await ctx.api.routers.updateRouter({ router: { id: router.id, enabled, revision: router.revision }, updateMask: { paths: ["enabled"] } });
}

export async function deleteRouter(ctx: PageContext, id: string): Promise<boolean> {
  if (!window.confirm(`Delete router "${id}"? Statements waiting for it are no longer delivered.`)) return false;
  await ctx.api.routers.deleteRouter({ id });
  return true;
}

export const routersPage: Page = (main, ctx) => {
  const status = statusLine();
  const body = h("div", {}, h("p", {}, "Loading…"));
  let stopped = false;
  const showError = (e: unknown): void => clear(body, h("p", { class: "error", role: "alert" }, describeError(e).message));

  const load = async (): Promise<void> => {
    const { routers, statuses } = await fetchRouters(ctx);
    if (stopped) return;
    if (routers.length === 0) {
      clear(body, h("p", {}, "No routers yet. ", h("a", { href: "#/routers/new" }, "Create one"), " to start delivering statements."));
      return;
    }
    // After an action only the table is redrawn: the status line keeps saying what the action did.
    const act = (verb: string, id: string, run: () => Promise<unknown>): HTMLButtonElement =>
      actionButton(status, verb, id, run, () => void load());
    clear(body, routersTable(ctx, routers, statuses, act));
  };
  const refresh = (): void => {
    load().then(() => (status.textContent = `Updated at ${formatTime(new Date())}.`), showError);
  };

  clear(main, pageHead(refresh), status, body);
  load().catch(showError);
  return () => {
    stopped = true;
  };
};

/** The heading with "New router" and "Refresh". */
function pageHead(refresh: () => void): HTMLElement {
  return h(
    "div",
    { class: "page-head" },
    h("h1", { tabindex: -1 }, "Routers"),
    h(
      "div",
      { class: "actions" },
      h("a", { href: "#/routers/new", class: "button" }, "New router"),
      // No timer here: redrawing the table under a keyboard user's focus would lose their place.
      h("button", { type: "button", class: "secondary", onclick: () => refresh() }, "Refresh"),
    ),
  );
}

/** Every router and, by router id, its delivery state. */
async function fetchRouters(ctx: PageContext): Promise<{ routers: Router[]; statuses: Map<string, RouterStatus> }> {
  const [list, statuses] = await Promise.all([
    ctx.api.routers.listRouters({}),
    // Fails with FailedPrecondition when this instance does not deliver; the list is still useful then.
    ctx.api.routers.getRouterStatus({}).then(
      (r) => r.statuses,
      () => [] as RouterStatus[],
    ),
  ]);
  return { routers: list.routers, statuses: new Map(statuses.map((s) => [s.routerId, s])) };
}

type ActionButton = (verb: string, id: string, run: () => Promise<unknown>) => HTMLButtonElement;

/**
 * A row's button ("Disable lrs"): runs the action and says in the status line whether it was done; `run`
 * resolving to false means the operator cancelled (nothing said, nothing reloaded).
 */
function actionButton(status: HTMLElement, verb: string, id: string, run: () => Promise<unknown>, reload: () => void): HTMLButtonElement {
  const label = `${verb} ${id}`;
  return h(
    "button",
    {
      type: "button",
      class: verb === "Delete" ? "small danger" : "small",
      "aria-label": label,
      onclick: () => {
        run().then(
          (changed) => {
            if (changed === false) return;
            status.textContent = `${label}: done.`;
            reload();
          },
          (e: unknown) => (status.textContent = `${label} failed: ${describeError(e).message}`),
        );
      },
    },
    verb,
  );
}

function routersTable(
  ctx: PageContext,
  routers: readonly Router[],
  statuses: Map<string, RouterStatus>,
  act: ActionButton,
): HTMLTableElement {
  return h(
    "table",
    {},
    h("caption", { class: "visually-hidden" }, "Routers and their delivery state"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...["Router", "Backend", "Endpoint", "State", "Pending", "In failed stream", "Last success", "Last error", "Actions"].map((c) =>
          h("th", { scope: "col" }, c),
        ),
      ),
    ),
    h("tbody", {}, ...routers.map((r) => routerRow(ctx, r, statuses.get(r.id), act))),
  );
}

function routerRow(ctx: PageContext, r: Router, s: RouterStatus | undefined, act: ActionButton): HTMLTableRowElement {
  return h(
    "tr",
    { "data-router": r.id },
    h(
      "th",
      { scope: "row" },
      h("a", { href: `#/routers/${r.id}`, class: "id" }, r.id),
      r.displayName ? h("div", { class: "muted" }, r.displayName) : null,
    ),
    h("td", {}, BACKEND_LABEL[r.backend]),
    h("td", {}, breakableUrl(r.endpointUrl)),
    h("td", { "data-col": "state" }, h("span", { class: `badge state-${stateText(r, s).replace(/\s+/g, "-")}` }, stateText(r, s))),
    h("td", { class: "num", "data-col": "pending" }, s ? String(s.pending) : "—"),
    h("td", { class: "num", "data-col": "failed" }, s ? String(s.failedStored) : "—"),
    h("td", { class: "time" }, formatTime(s?.lastSuccessTime ? timestampDate(s.lastSuccessTime) : undefined)),
    lastErrorCell(s),
    h(
      "td",
      { class: "actions" },
      h("a", { href: `#/routers/${r.id}/edit`, class: "button small", "aria-label": `Edit ${r.id}` }, "Edit"),
      r.enabled ? act("Disable", r.id, () => setEnabled(ctx, r, false)) : act("Enable", r.id, () => setEnabled(ctx, r, true)),
      act("Delete", r.id, () => deleteRouter(ctx, r.id)),
    ),
  );
}

/** The last error after its time; "no error" is a plain dash, not drawn in the error colour. */
function lastErrorCell(s: RouterStatus | undefined): HTMLTableCellElement {
  return s?.lastError
    ? h(
        "td",
        { class: "error-text", "data-col": "last-error" },
        h("span", { class: "time" }, formatTime(s.lastErrorTime ? timestampDate(s.lastErrorTime) : undefined)),
        ` ${s.lastError}`,
      )
    : h("td", { class: "muted", "data-col": "last-error" }, "—");
}

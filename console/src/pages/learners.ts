/**
 * Forget a learner (ForgetLearner), after a confirmation that says it cannot be undone, then follow the forget
 * (GetForgetProgress) until the streams are cleared, with its counts per router and what it cannot reach; below,
 * the audit records of every forget (ListForgottenLearners). The identifiers typed here are sent once and never
 * shown again: the records hold none.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type ForgetRecord, ForgetState } from "../../../gen/eventrouting/v1/learner_admin_service_pb.js";
import { describeError } from "../api.js";
import { clear, field, formatTime, h, setFieldError, statusLine } from "../dom.js";
import type { Page, PageContext } from "../page.js";

const POLL_MS = 1000;
const FIELDS = [
  ["user_id", "User id", "The LMS user id (this or the username is required; give both when known)."],
  ["username", "Username", "The LMS username."],
  ["external_id", "External id", "Optional: the learner's xAPI external id, when known."],
  ["email", "Email", "Optional: for mbox actors the identity table does not know."],
] as const;

export const learnersPage: Page = (main, ctx) => {
  const stopped = { value: false };
  const form = forgetForm();
  const status = statusLine();
  const result = h("section", { "aria-label": "Forget result" });
  const audit = h("section", { "aria-labelledby": "audit-title" });
  clear(
    main,
    h("h1", { tabindex: -1 }, "Forget a learner"),
    h(
      "p",
      { class: "muted" },
      "Their later events are skipped on every instance, their identity rows deleted, and their statements removed " +
        "from the delivery and failed streams. Statements already delivered to an LRS and statement log files are out of reach.",
    ),
    form,
    status,
    result,
    audit,
  );
  const refresh = () => void loadAudit(ctx, audit);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void forget(ctx, form, { status, result, stopped, done: refresh });
  });
  refresh();
  return () => {
    stopped.value = true;
  };
};

function forgetForm(): HTMLFormElement {
  return h(
    "form",
    { "aria-label": "Forget a learner", novalidate: true },
    ...FIELDS.map(([name, label, hint]) => field(label, h("input", { name, autocomplete: "off" }), hint)),
    h("button", { type: "submit", class: "danger" }, "Forget learner"),
  );
}

interface Outputs {
  readonly status: HTMLElement;
  readonly result: HTMLElement;
  readonly stopped: { value: boolean };
  done(): void;
}

function inputValue(form: HTMLFormElement, name: string): string {
  return (form.elements.namedItem(name) as HTMLInputElement | null)?.value.trim() ?? "";
}

async function forget(ctx: PageContext, form: HTMLFormElement, out: Outputs): Promise<void> {
  const [userId, username, externalId, email] = FIELDS.map(([name]) => inputValue(form, name)) as [string, string, string, string];
  for (const [name] of FIELDS) setFieldError(form, name, undefined);
  if (userId === "" && username === "") {
    setFieldError(form, "user_id", "Give the user id or the username.");
    return;
  }
  const who = [userId && `user id ${userId}`, username && `username ${username}`].filter(Boolean).join(", ");
  if (!window.confirm(`Forget the learner with ${who}? Their undelivered statements are deleted. This cannot be undone.`)) return;
  try {
    let f = (await ctx.api.learners.forgetLearner({ userId, username, externalId, email, noWait: true })).forget!;
    form.reset();
    while (f.state !== ForgetState.DONE && !out.stopped.value) {
      out.status.textContent = `Forgetting: ${f.scanned} of ${f.toScan} stored messages read…`;
      await new Promise((r) => setTimeout(r, POLL_MS));
      f = (await ctx.api.learners.getForgetProgress({ forgetId: f.forgetId })).forget!;
    }
    out.status.textContent = `Learner forgotten (${f.forgetId}).`;
    clear(out.result, ...forgetDetail(f));
    out.done();
  } catch (e) {
    const d = describeError(e);
    if (!(d.field && setFieldError(form, d.field.path, d.field.message))) out.status.textContent = d.message;
  }
}

function forgetDetail(f: ForgetRecord): Node[] {
  return [
    h(
      "table",
      { "aria-label": "Statements removed per router" },
      h("thead", {}, h("tr", {}, h("th", {}, "Router"), h("th", {}, "Delivery stream"), h("th", {}, "Failed stream"))),
      h(
        "tbody",
        {},
        ...f.routers.map((r) =>
          h("tr", { "data-router": r.routerId }, h("td", {}, r.routerId), h("td", {}, String(r.delivery)), h("td", {}, String(r.failed))),
        ),
      ),
    ),
    h("p", {}, `Identity rows deleted: ${f.identityRecordsDeleted}.`),
    h("p", {}, "Out of reach:"),
    h("ul", { class: "out-of-reach" }, ...f.outOfReach.map((s) => h("li", {}, s))),
  ];
}

async function loadAudit(ctx: PageContext, section: HTMLElement): Promise<void> {
  const title = h("h2", { id: "audit-title" }, "Forgotten learners");
  try {
    const { forgets } = await ctx.api.learners.listForgottenLearners({});
    if (forgets.length === 0) return clear(section, title, h("p", { class: "muted" }, "No learner was forgotten yet."));
    clear(section, title, auditTable(forgets));
  } catch (e) {
    clear(section, title, h("p", { class: "error-text" }, describeError(e).message));
  }
}

function auditTable(forgets: readonly ForgetRecord[]): HTMLTableElement {
  const total = (f: ForgetRecord, k: "delivery" | "failed") => String(f.routers.reduce((n, r) => n + r[k], 0n));
  return h(
    "table",
    { "aria-label": "Audit records" },
    h(
      "thead",
      {},
      h("tr", {}, ...["Requested at", "By", "State", "Delivery stream", "Failed stream", "Identity rows"].map((t) => h("th", {}, t))),
    ),
    h(
      "tbody",
      {},
      ...forgets.map((f) =>
        h(
          "tr",
          { "data-forget": f.forgetId },
          h("td", { class: "time" }, formatTime(f.requestedTime ? timestampDate(f.requestedTime) : undefined)),
          h("td", {}, f.requestedBy),
          h("td", {}, f.state === ForgetState.DONE ? "done" : "running"),
          h("td", {}, total(f, "delivery")),
          h("td", {}, total(f, "failed")),
          h("td", {}, String(f.identityRecordsDeleted)),
        ),
      ),
    ),
  );
}

/**
 * The console's shell: sign-in, navigation and a hash router ("#/routers", "#/routers/<id>", "#/failed", "#/rejected",
 * "#/playground", "#/mappings", "#/mappings/<id>", "#/learners"). The hash keeps every page a static file on the
 * server; it never holds the token. Each page renders into <main> and returns a stop function (the router detail
 * polls), called when the page changes.
 */
import "uplot/dist/uPlot.min.css";
import "./console.css";
import { createApi, describeError, session, type Api } from "./api.js";
import { clear, field, h } from "./dom.js";
import type { ConsoleSettings, Page, PageContext, Stop } from "./page.js";
import { failedPage } from "./pages/failed.js";
import { learnersPage } from "./pages/learners.js";
import { mappingEditorPage } from "./pages/mapping-editor.js";
import { mappingsPage } from "./pages/mappings.js";
import { playgroundPage } from "./pages/playground.js";
import { rejectedPage } from "./pages/rejected.js";
import { routerDetailPage } from "./pages/router-detail.js";
import { routerFormPage } from "./pages/router-form.js";
import { routersPage } from "./pages/routers.js";

const ROUTES: Array<[RegExp, Page]> = [
  [/^#\/routers\/new$/, (m, c) => routerFormPage(m, c)],
  [/^#\/routers\/([a-z0-9_-]+)\/edit$/, (m, c, id) => routerFormPage(m, c, id)],
  [/^#\/routers\/([a-z0-9_-]+)$/, routerDetailPage],
  [/^#\/failed$/, failedPage],
  [/^#\/rejected$/, rejectedPage],
  [/^#\/playground$/, playgroundPage],
  [/^#\/learners$/, learnersPage],
  [/^#\/mappings\/new$/, (m, c) => mappingEditorPage(m, c)],
  [/^#\/mappings\/([a-z0-9_-]+)$/, mappingEditorPage],
  [/^#\/mappings$/, mappingsPage],
  [/^(#\/routers)?$/, routersPage],
];

const NAV: Array<[string, string]> = [
  ["#/routers", "Routers"],
  ["#/failed", "Failed statements"],
  ["#/rejected", "Rejected input"],
  ["#/mappings", "Custom mappings"],
  ["#/playground", "Playground"],
  ["#/learners", "Forget a learner"],
];

async function loadSettings(): Promise<ConsoleSettings> {
  const res = await fetch("console-config.json");
  return (await res.json()) as ConsoleSettings;
}

/**
 * Holds what the shell remembers (signed in or not, the shown page's stop function, the notices for the next page)
 * and switches between the sign-in form and the signed-in shell, whose pages follow the hash.
 */
function start(settings: ConsoleSettings): void {
  const root = document.getElementById("app")!;
  let stop: Stop | undefined;
  // Only a signed-in shell is "signed out" by an Unauthenticated answer; during sign-in the form reports it.
  let signedIn = false;
  /** Shown once, on the page the next go() leads to. */
  let pendingNotices: readonly string[] = [];
  const api = createApi(session.token, () => {
    if (signedIn) signedOut("Your session ended: the token is no longer accepted.");
  });
  const ctx: PageContext = {
    api,
    settings,
    go: (hash, notices) => {
      pendingNotices = notices ?? [];
      window.location.hash = hash;
    },
  };
  const stopPage = (): void => {
    stop?.();
    stop = undefined;
  };

  function signedOut(notice?: string): void {
    signedIn = false;
    stopPage();
    session.signOut();
    clear(root, signInForm(api, shell, notice));
  }

  function shell(): void {
    signedIn = true;
    const { main, links } = shellLayout(root, () => signedOut());
    const render = (): void => {
      stopPage();
      const hash = window.location.hash;
      markCurrent(links, hash);
      const shown = showRoute(main, ctx, hash);
      if (!shown) {
        clear(main, h("h1", { tabindex: -1 }, "Not found"), h("p", {}, h("a", { href: "#/routers" }, "Back to the routers")));
        return;
      }
      stop = shown.stop;
      if (pendingNotices.length > 0) {
        main.prepend(h("div", { class: "notice", role: "status" }, ...pendingNotices.map((n) => h("p", {}, n))));
        pendingNotices = [];
      }
      // Move focus to the new page's heading so keyboard and screen-reader users start there.
      main.querySelector<HTMLElement>("h1")?.focus();
    };
    window.onhashchange = render;
    render();
  }

  if (session.token()) shell();
  else clear(root, signInForm(api, shell));
}

/**
 * The sign-in form: the token is kept in the session, then checked with ListRouters (which needs the admin role,
 * so an emit token is refused here, with PermissionDenied, not on a later page) before `onSignedIn` opens the shell.
 */
function signInForm(api: Api, onSignedIn: () => void, notice?: string): HTMLElement {
  const input = h("input", { type: "password", name: "token", autocomplete: "off", required: true, spellcheck: "false" });
  const error = h("p", { class: "error", role: "alert" }, notice ?? "");
  const form = h(
    "form",
    { class: "sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "event-routing console"),
    h("p", {}, "Sign in with an admin token (ADMIN_TOKENS). It is kept in this tab only and sent with every call."),
    field("Admin token", input),
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.textContent = "";
    session.signIn(input.value.trim());
    api.routers.listRouters({}).then(
      () => onSignedIn(),
      (e: unknown) => {
        session.signOut();
        error.textContent = describeError(e).message;
        input.focus();
      },
    );
  });
  queueMicrotask(() => input.focus());
  return form;
}

/** The signed-in frame: a skip link, the header with the navigation and "Sign out", and the <main> pages render into. */
function shellLayout(root: HTMLElement, onSignOut: () => void): { main: HTMLElement; links: HTMLAnchorElement[] } {
  const main = h("main", { id: "main", tabindex: -1 });
  const links = NAV.map(([href, label]) => h("a", { href }, label));
  const signOut = h("button", { type: "button", class: "secondary", onclick: onSignOut }, "Sign out");
  clear(
    root,
    h("a", { href: "#main", class: "skip" }, "Skip to content"),
    h("header", {}, h("span", { class: "brand" }, "event-routing"), h("nav", { "aria-label": "Console" }, ...links), signOut),
    main,
  );
  return { main, links };
}

/** aria-current="page" on the navigation link of the section the hash is in (the routers for an empty hash). */
function markCurrent(links: readonly HTMLAnchorElement[], hash: string): void {
  for (const a of links) {
    if (hash.startsWith(a.getAttribute("href")!) || (hash === "" && a.getAttribute("href") === "#/routers"))
      a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

/** Renders the page the hash names into `main`, with the route's captured parameters; undefined when none matches. */
function showRoute(main: HTMLElement, ctx: PageContext, hash: string): { stop: Stop | undefined } | undefined {
  for (const [re, page] of ROUTES) {
    const m = re.exec(hash);
    if (!m) continue;
    main.replaceChildren();
    return { stop: page(main, ctx, ...m.slice(1).filter((s): s is string => s !== undefined)) };
  }
  return undefined;
}

loadSettings().then(start, (e: unknown) => {
  document.getElementById("app")!.textContent = `The console could not load its settings: ${String(e)}`;
});

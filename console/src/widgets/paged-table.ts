/**
 * The page the failed statements and the rejected input share: a filter form with a page size, one page of rows
 * (the RPC's page tokens kept in a stack for "Previous"), a checkbox per row, a "View" button that shows one row
 * in the detail section, and toolbar actions on the selected rows or on everything the filter matches, each after
 * a confirmation that says how much it touches. A page describes its filter, columns, RPCs and actions; this
 * module owns the paging, the selection and the order of the page's parts, so the two pages cannot drift apart.
 */
import { describeError } from "../api.js";
import { clear, field, h, select, statusLine } from "../dom.js";
import type { Stop } from "../page.js";

type RowId = bigint | number | string;

const PAGE_SIZES = [25, 50, 100, 500];

/** A toolbar button that acts on the selected rows or on everything the applied filter matches. */
export interface BulkAction<Id, Filter> {
  readonly label: string;
  readonly danger?: boolean;
  /** Names the action when it fails ("Retry failed: ..."). */
  readonly verb: string;
  /** Set for an action on the selected rows: what the status says when none is selected. */
  readonly nothingSelected?: string;
  /** The question the operator confirms before anything is sent. */
  question(ids: readonly Id[], filter: Filter): string;
  /** Sends the RPC; resolves to what it did ("3 retried"). */
  run(ids: Id[], filter: Filter): Promise<string>;
}

/** One row in the detail section: its heading (with the id the section is labelled by) and what follows it. */
export interface RowDetail<Row> {
  readonly headingId: string;
  heading(row: Row): string;
  body(row: Row): Node[];
}

export interface PagedTableSpec<Row extends { readonly id: RowId }, Filter> {
  /** The page's heading, also the table's caption. */
  readonly title: string;
  readonly intro: string;
  readonly filter: {
    /** The filter form's accessible name. */
    readonly label: string;
    /** Its controls, each wrapped by field(); "Per page" and "Apply filters" follow them. */
    readonly fields: readonly HTMLElement[];
    /** The filter before the form is first applied. */
    readonly initial: Filter;
    read(): Filter;
  };
  list(filter: Filter, pageSize: number, pageToken: string): Promise<{ rows: readonly Row[]; nextPageToken: string }>;
  /** The attribute that carries a row's id on its <tr> ("data-failed"). */
  readonly rowAttribute: string;
  /** The headers of the columns between the id and the "View" button, and one row's cells for them. */
  readonly columns: readonly string[];
  cells(row: Row): HTMLTableCellElement[];
  /** What the table says when a page has no rows. */
  readonly empty: { readonly firstPage: string; readonly laterPage: string };
  readonly detail: RowDetail<Row>;
  readonly actions: readonly BulkAction<Row["id"], Filter>[];
}

/** The parts of the page the paging and the actions update. */
interface View {
  readonly status: HTMLParagraphElement;
  readonly filters: HTMLFormElement;
  readonly pageSize: HTMLSelectElement;
  readonly table: HTMLDivElement;
  readonly detail: HTMLElement;
  readonly prev: HTMLButtonElement;
  readonly next: HTMLButtonElement;
  readonly actionButtons: readonly HTMLButtonElement[];
}

/** The RPC's page tokens walked so far: tokens[i] fetches page i, so "Previous" goes back without asking. */
class PageTokens {
  #tokens = [""];
  #page = 0;
  #next = "";

  get onFirstPage(): boolean {
    return this.#page === 0;
  }
  get hasNext(): boolean {
    return this.#next !== "";
  }
  current(): string {
    return this.#tokens[this.#page] ?? "";
  }
  /** Records the token of the page after the one just fetched ("" on the last page). */
  answered(nextPageToken: string): void {
    this.#next = nextPageToken;
  }
  first(): void {
    this.#page = 0;
    this.#tokens.length = 1;
  }
  previous(): void {
    this.#page = Math.max(0, this.#page - 1);
  }
  forward(): void {
    this.#tokens[this.#page + 1] = this.#next;
    this.#page++;
  }
}

/** Renders the page into `main`, loads the first page of rows and wires the filter, the pager and the actions. */
export function pagedTable<Row extends { readonly id: RowId }, Filter>(main: HTMLElement, spec: PagedTableSpec<Row, Filter>): Stop {
  const view = layout(main, spec);
  const tokens = new PageTokens();
  const selected = new Set<Row["id"]>();
  let filter = spec.filter.initial;
  let stopped = false;

  const load = async (): Promise<void> => {
    const res = await spec.list(filter, Number(view.pageSize.value), tokens.current());
    if (stopped) return;
    tokens.answered(res.nextPageToken);
    selected.clear();
    view.prev.disabled = tokens.onFirstPage;
    view.next.disabled = !tokens.hasNext;
    if (res.rows.length === 0) clear(view.table, h("p", {}, tokens.onFirstPage ? spec.empty.firstPage : spec.empty.laterPage));
    else
      clear(
        view.table,
        rowsTable(spec, res.rows, selected, (row) => showDetail(view.detail, spec.detail, row)),
      );
  };
  const reload = (): void => {
    load().catch((e: unknown) => clear(view.table, h("p", { class: "error", role: "alert" }, describeError(e).message)));
  };
  const fromFirstPage = (): void => {
    tokens.first();
    reload();
  };

  view.filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    filter = spec.filter.read();
    fromFirstPage();
  });
  view.prev.addEventListener("click", () => {
    tokens.previous();
    reload();
  });
  view.next.addEventListener("click", () => {
    tokens.forward();
    reload();
  });
  for (const [i, action] of spec.actions.entries())
    view.actionButtons[i]!.addEventListener("click", () => runAction(action, [...selected], filter, view.status, fromFirstPage));
  reload();
  return () => {
    stopped = true;
  };
}

/** Heading, filters, toolbar, status, table, pager and detail, in that order. */
function layout<Row extends { readonly id: RowId }, Filter>(main: HTMLElement, spec: PagedTableSpec<Row, Filter>): View {
  const pageSize = select(
    "page_size",
    PAGE_SIZES.map((n) => [String(n), String(n)] as const),
  );
  const view: View = {
    status: statusLine(),
    filters: h(
      "form",
      { class: "filters", role: "search", "aria-label": spec.filter.label },
      ...spec.filter.fields,
      field("Per page", pageSize),
      h("div", { class: "form-actions" }, h("button", { type: "submit" }, "Apply filters")),
    ),
    pageSize,
    table: h("div", {}, h("p", {}, "Loading…")),
    detail: h("section", { "aria-labelledby": spec.detail.headingId, class: "detail", hidden: true }),
    prev: h("button", { type: "button", class: "secondary" }, "Previous page"),
    next: h("button", { type: "button", class: "secondary" }, "Next page"),
    actionButtons: spec.actions.map((a) => h("button", { type: "button", class: a.danger ? "danger" : undefined }, a.label)),
  };
  clear(
    main,
    h("h1", { tabindex: -1 }, spec.title),
    h("p", { class: "muted" }, spec.intro),
    view.filters,
    h("div", { class: "toolbar", role: "group", "aria-label": "Actions" }, ...view.actionButtons),
    view.status,
    view.table,
    h("div", { class: "pager" }, view.prev, view.next),
    view.detail,
  );
  return view;
}

/** One page of rows: a select-all checkbox, then per row its checkbox, id, the page's cells and "View". */
function rowsTable<Row extends { readonly id: RowId }, Filter>(
  spec: PagedTableSpec<Row, Filter>,
  rows: readonly Row[],
  selected: Set<Row["id"]>,
  show: (row: Row) => void,
): HTMLTableElement {
  const { all, boxes } = rowCheckboxes(rows, selected);
  return h(
    "table",
    {},
    h("caption", { class: "visually-hidden" }, spec.title),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, all), ...["Id", ...spec.columns, ""].map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      ...rows.map((row, i) =>
        h(
          "tr",
          { [spec.rowAttribute]: String(row.id) },
          h("td", {}, boxes[i]!),
          h("td", { class: "num" }, String(row.id)),
          ...spec.cells(row),
          h(
            "td",
            {},
            h("button", { type: "button", class: "small secondary", "aria-label": `View #${row.id}`, onclick: () => show(row) }, "View"),
          ),
        ),
      ),
    ),
  );
}

/**
 * Checkboxes for one page of rows whose ids `selected` collects: one per row and a select-all for the page, each
 * keeping `selected` in step.
 */
function rowCheckboxes<Id extends RowId>(
  rows: readonly { readonly id: Id }[],
  selected: Set<Id>,
): { all: HTMLInputElement; boxes: HTMLInputElement[] } {
  const all = h("input", { type: "checkbox", "aria-label": "Select all on this page" });
  const boxes = rows.map((r) => {
    const box = h("input", { type: "checkbox", "aria-label": `Select #${r.id}`, "data-id": String(r.id) });
    box.addEventListener("change", () => (box.checked ? selected.add(r.id) : selected.delete(r.id)));
    return box;
  });
  all.addEventListener("change", () => {
    for (const [i, b] of boxes.entries()) {
      b.checked = all.checked;
      if (all.checked) selected.add(rows[i]!.id);
      else selected.delete(rows[i]!.id);
    }
  });
  return { all, boxes };
}

/** Shows one row in the detail section and moves focus to its heading. */
function showDetail<Row>(section: HTMLElement, detail: RowDetail<Row>, row: Row): void {
  section.hidden = false;
  clear(section, h("h2", { id: detail.headingId, tabindex: -1 }, detail.heading(row)), ...detail.body(row));
  section.querySelector<HTMLElement>("h2")?.focus();
}

/** Confirms, sends, reports in the status line, and on success shows the first page again (what changed is gone). */
function runAction<Id, Filter>(action: BulkAction<Id, Filter>, ids: Id[], filter: Filter, status: HTMLElement, onDone: () => void): void {
  if (action.nothingSelected !== undefined && ids.length === 0) {
    status.textContent = action.nothingSelected;
    return;
  }
  if (!window.confirm(action.question(ids, filter))) return;
  action.run(ids, filter).then(
    (done) => {
      status.textContent = `${done}.`;
      onDone();
    },
    (e: unknown) => (status.textContent = `${action.verb} failed: ${describeError(e).message}`),
  );
}

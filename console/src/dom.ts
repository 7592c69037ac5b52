/**
 * A tiny DOM builder: the console is a few forms and tables, which plain elements describe well enough without a
 * framework. Text always goes in as text nodes (never innerHTML), so values from the server cannot inject markup.
 */
type Child = Node | string | number | false | null | undefined;
type Attrs = Record<string, string | number | boolean | undefined | ((ev: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, ...children);
  return el;
}

export function append(el: Element, ...children: Child[]): void {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    el.append(typeof c === "number" ? String(c) : c);
  }
}

export function clear(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

/** A <select> named `name` with one option per [value, label], in that order. */
export function select(name: string, options: ReadonlyArray<readonly [value: string, label: string]>): HTMLSelectElement {
  return h("select", { name }, ...options.map(([value, label]) => h("option", { value }, label)));
}

/** A labelled form control; the label's `for` ties it to the input for screen readers and clicks. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLDivElement {
  const id = control.id || `f-${control.name}`;
  control.id = id;
  const error = h("p", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
  const describedBy = [hint ? `${id}-hint` : "", `${id}-error`].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", describedBy);
  return h(
    "div",
    { class: "field", "data-field": control.name },
    h("label", { for: id }, label),
    control,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    error,
  );
}

/** Shows (or clears) a field's error under it and marks the control invalid. */
export function setFieldError(form: HTMLElement, name: string, message: string | undefined): boolean {
  const wrap = form.querySelector<HTMLElement>(`[data-field="${CSS.escape(name)}"]`);
  if (!wrap) return false;
  const control = wrap.querySelector<HTMLElement>("input, select, textarea");
  const error = wrap.querySelector<HTMLElement>(".field-error");
  if (error) error.textContent = message ?? "";
  if (message) control?.setAttribute("aria-invalid", "true");
  else control?.removeAttribute("aria-invalid");
  return true;
}

/**
 * Every time on the console as ISO 8601 in UTC ("2026-12-07T16:47:48Z"), the form the CLI and the service's logs
 * use, so a time read here can be matched against them; the browser's locale form ("12/7/26, 4:47:48 PM") named
 * no zone and read differently per reader.
 */
export function formatTime(d: Date | undefined): string {
  return d ? d.toISOString().replace(/\.\d{3}Z$/, "Z") : "—";
}

/**
 * A URL that may wrap only after a "/" of its path or before "?", "&", "#" (a <wbr> there), never inside a word
 * nor inside scheme://host:port: break-all cut hosts and paths mid-word, which read as two different values.
 */
export function breakableUrl(url: string): HTMLSpanElement {
  const span = h("span", { class: "url" });
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url)?.[0] ?? "";
  const parts = url.slice(origin.length).split(/(?<=\/)|(?=[?&#])/);
  parts[0] = origin + (parts[0] ?? "");
  for (const [i, part] of parts.entries()) append(span, i > 0 ? document.createElement("wbr") : null, part);
  return span;
}

export function prettyJson(value: unknown): HTMLPreElement {
  return h("pre", { class: "json", tabindex: 0 }, JSON.stringify(value, null, 2));
}

/** A polite live region for results ("3 statements retried"), so screen readers hear what an action did. */
export function statusLine(): HTMLParagraphElement {
  return h("p", { class: "status", role: "status", "aria-live": "polite" });
}

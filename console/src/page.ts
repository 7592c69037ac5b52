/**
 * What the shell (main.ts) gives every page and what a page gives back. Its own module so pages and the shell
 * both import it: pages importing their types from main.ts, which imports the pages, made an import cycle.
 */
import type { Api } from "./api.js";

export interface ConsoleSettings {
  readonly natsPrefix: string;
}

export interface PageContext {
  readonly api: Api;
  readonly settings: ConsoleSettings;
  /**
   * Changes the page (a hash change). `notices` (e.g. the warnings a CreateRouter answer carries) are shown at the
   * top of the next page, so what the service said about a save is not lost with the form.
   */
  go(hash: string, notices?: readonly string[]): void;
}

/** Called when the page changes (the router detail polls). */
export type Stop = () => void;
export type Page = (main: HTMLElement, ctx: PageContext, ...params: string[]) => Stop | undefined;

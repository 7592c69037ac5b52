/** The --help text: every variable in table order, with its default and what its secret marking means. */
import { secretNote, type VarSpec } from "./var-spec.js";

export function helpText(vars: Record<string, VarSpec<unknown>>): string {
  const rows = Object.values(vars).map(
    (s) => `  ${s.name.padEnd(28)} ${s.description}${secretNote(s)}\n` + `  ${"".padEnd(28)} default: ${s.defaultText}`,
  );
  return `event-routing: Open edX events to xAPI and Caliper, delivered through NATS JetStream.\n\nUsage: npm start [-- --help]\n\nEnvironment variables:\n${rows.join("\n")}\n`;
}

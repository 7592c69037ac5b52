/**
 * Logs what happens to the NATS connection, from nc.status(): a disconnect (warn) and the reconnect (info) with
 * the server's address, lame-duck notices, stale connections, slow consumers and server errors. Without these
 * lines an outage shows only as Emit answering Unavailable. Reconnect attempts ("reconnecting", every 250 ms)
 * and pings are not logged: they would flood the log during an outage and say nothing the disconnect did not.
 */
import type { Status } from "@nats-io/transport-node";
import type { Logger } from "pino";

/** Resolves when the status stream ends (the connection closed). */
export async function logNatsStatus(events: AsyncIterable<Status>, logger: Logger): Promise<void> {
  for await (const s of events) {
    switch (s.type) {
      case "disconnect":
        logger.warn({ server: s.server }, "NATS disconnected; reconnecting (Emit answers Unavailable meanwhile)");
        break;
      case "reconnect":
        logger.info({ server: s.server }, "NATS reconnected");
        break;
      case "ldm":
        logger.warn({ server: s.server }, "NATS server entering lame duck mode; the client will move to another server");
        break;
      case "staleConnection":
        logger.warn("NATS connection stale (no answer to pings); reconnecting");
        break;
      case "slowConsumer":
        logger.warn({ subject: s.sub.getSubject(), pending: s.pending }, "NATS slow consumer: messages are being dropped");
        break;
      case "error":
        logger.error({ err: s.error.message }, "NATS server error");
        break;
      case "update":
        logger.info({ added: s.added ?? [], deleted: s.deleted ?? [] }, "NATS cluster membership changed");
        break;
      case "close":
        logger.info("NATS connection closed");
        break;
      default:
        break;
    }
  }
}

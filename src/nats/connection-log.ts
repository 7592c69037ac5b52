/**
 * Logs what happens to the NATS connection, from nc.status(): a disconnect (warn) and the reconnect (info) with
 * the server's address, lame-duck notices, stale connections, slow consumers and server errors. Without these
 * lines an outage shows only as Emit answering Unavailable. Reconnect attempts ("reconnecting", every 250 ms)
 * and pings are not logged: they would flood the log during an outage and say nothing the disconnect did not; a
 * server error repeated at every attempt (credentials refused) is logged once per 30 s with its count.
 */
import type { Status } from "@nats-io/transport-node";
import type { Logger } from "pino";

/** The same server error (an authorization error at every reconnect attempt) is logged again at most this often. */
const REPEAT_INTERVAL_MS = 30_000;

/** Resolves when the status stream ends (the connection closed). */
export async function logNatsStatus(events: AsyncIterable<Status>, logger: Logger, now = Date.now): Promise<void> {
  let lastError = { message: "", at: 0, repeated: 0 };
  // A reconnect attempt the server refuses (credentials) reports a disconnect of its own every 250 ms: only the
  // first disconnect after being connected is logged.
  let connected = true;
  for await (const s of events) {
    switch (s.type) {
      case "disconnect":
        if (!connected) break;
        connected = false;
        logger.warn({ server: s.server }, "NATS disconnected; reconnecting (Emit answers Unavailable meanwhile)");
        break;
      case "reconnect":
        connected = true;
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
      case "error": {
        const message = s.error.message;
        if (message === lastError.message && now() - lastError.at < REPEAT_INTERVAL_MS) {
          lastError.repeated++;
          break;
        }
        const repeated = message === lastError.message ? lastError.repeated : 0;
        lastError = { message, at: now(), repeated: 0 };
        logger.error(
          { err: message, ...(repeated > 0 ? { repeated } : {}) },
          /authori[sz]ation|authentication/i.test(message)
            ? "NATS refuses this service's credentials; retrying (check NATS_CREDS / NATS_NKEY_SEED_FILE, read again at each attempt)"
            : "NATS server error",
        );
        break;
      }
      case "update":
        // Every (re)connect's INFO reports an update, most of them changing nothing.
        if (!s.added?.length && !s.deleted?.length) break;
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

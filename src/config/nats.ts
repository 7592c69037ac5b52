/**
 * The NATS connection (or the embedded nats-server started when NATS_URL is unset) and the names and replicas of
 * what is created in it. A connection authenticates one way: URL user info, a credentials file or an NKey seed.
 */
import { z } from "zod";
import { withoutUserinfo } from "../url-userinfo.js";
import { isSet, needs, type Rule } from "./rules.js";
import { nonNegativeInt, positiveInt } from "./schemas.js";
import { secret, v } from "./var-spec.js";

/**
 * NATS server URLs as nats.js takes them: nats://, tls://, ws:// or wss:// (or a bare host:port), comma-separated.
 * Checked here so a typo names the variable instead of failing later inside the client. User info
 * (`nats://user:pass@host`, `nats://token@host`) is taken as the nats CLI takes it (src/nats/connection.ts), so every
 * entry that has some must have the same; messages show the entries without it.
 */
const natsUrlList = z.string().superRefine((value, ctx) => {
  const credentials = new Set<string>();
  for (const entry of value.split(",").map((s) => s.trim())) {
    const withScheme = /^[a-z]+:\/\//i.test(entry) ? entry : `nats://${entry}`;
    let url: URL | undefined;
    try {
      url = new URL(withScheme);
    } catch {
      url = undefined;
    }
    const ok =
      url !== undefined &&
      /^(nats|tls|ws|wss):$/.test(url.protocol) &&
      url.hostname !== "" &&
      (url.pathname === "" || url.pathname === "/");
    if (!ok) {
      ctx.addIssue({
        code: "custom",
        message: `"${withoutUserinfo(entry)}" is not a NATS server URL; expected nats://host:4222 (tls://, ws://, wss:// too), comma-separated for a cluster`,
      });
      return;
    }
    if (url!.username !== "" || url!.password !== "") credentials.add(`${url!.username}:${url!.password}`);
  }
  if (credentials.size > 1) {
    ctx.addIssue({ code: "custom", message: "the URLs carry different user info; a connection has one user: give every URL the same" });
  }
});

export const NATS_VARS = {
  natsUrl: secret(
    "userinfo",
    v(
      "NATS_URL",
      "(unset)",
      "NATS server URL(s), comma-separated; nats://user:pass@host or nats://token@host authenticate. Unset: start a local nats-server -js child.",
      natsUrlList.optional(),
    ),
  ),
  natsServerBin: v(
    "NATS_SERVER_BIN",
    "nats-server",
    "nats-server binary for the embedded default (searched on PATH and /usr/sbin).",
    z.string().min(1),
  ),
  natsCreds: v("NATS_CREDS", "(unset)", "NATS credentials file (JWT and NKey seed).", z.string().optional()),
  natsNkeySeedFile: v(
    "NATS_NKEY_SEED_FILE",
    "(unset)",
    "File holding a NATS NKey user seed (SU...), for servers with nkey users. Not with NATS_CREDS.",
    z.string().optional(),
  ),
  natsTlsCaFile: v(
    "NATS_TLS_CA_FILE",
    "(unset)",
    "PEM CA verifying the NATS server. Any NATS_TLS_* variable makes TLS to NATS required.",
    z.string().optional(),
  ),
  natsTlsCertFile: v(
    "NATS_TLS_CERT_FILE",
    "(unset)",
    "PEM client certificate for NATS mutual TLS. Needs NATS_TLS_KEY_FILE.",
    z.string().optional(),
  ),
  natsTlsKeyFile: v("NATS_TLS_KEY_FILE", "(unset)", "PEM private key for NATS_TLS_CERT_FILE.", z.string().optional()),
  natsMonitorPort: v(
    "NATS_MONITOR_PORT",
    "(random free port)",
    "Monitoring port (/varz, /jsz, /healthz) of the embedded nats-server; the start-up banner prints its URL.",
    nonNegativeInt.max(65535).optional(),
  ),
  dataDir: v("DATA_DIR", ".data", "Directory for the embedded nats-server's store.", z.string().min(1)),
  natsPrefix: v(
    "NATS_PREFIX",
    "eventrouting",
    "Prefix of every subject, stream, bucket and consumer name (letters, digits, _).",
    z.string().regex(/^[A-Za-z0-9_]+$/, "expected letters, digits and _ only"),
  ),
  natsReplicas: v("NATS_REPLICAS", "1", "Stream and bucket replicas (3 in a NATS cluster).", positiveInt.max(5)),
};

const CHOOSE_ONE = "choose one way to authenticate to NATS";

export const NATS_RULES: ReadonlyArray<Rule<unknown>> = [
  needs("NATS_TLS_CERT_FILE", "NATS_TLS_KEY_FILE", "a client certificate needs its key"),
  needs("NATS_TLS_KEY_FILE", "NATS_TLS_CERT_FILE", "a client key needs its certificate"),
  {
    on: "env",
    check: (env) =>
      isSet(env, "NATS_CREDS") && isSet(env, "NATS_NKEY_SEED_FILE")
        ? [`NATS_CREDS and NATS_NKEY_SEED_FILE are both set: ${CHOOSE_ONE}`]
        : [],
  },
  {
    on: "env",
    check: (env) => {
      const url = env["NATS_URL"] ?? "";
      const otherWay = isSet(env, "NATS_CREDS") || isSet(env, "NATS_NKEY_SEED_FILE");
      return withoutUserinfo(url) !== url && otherWay
        ? [`NATS_URL carries a user or token and NATS_CREDS / NATS_NKEY_SEED_FILE is set: ${CHOOSE_ONE}`]
        : [];
    },
  },
];

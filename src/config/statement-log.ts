/** Statement logs (src/output/statement-log.ts): a copy of every statement stored, for log shippers. */
import { z } from "zod";
import { positiveInt } from "./schemas.js";
import { v } from "./var-spec.js";

export const STATEMENT_LOG_VARS = {
  xapiStatementLog: v(
    "XAPI_STATEMENT_LOG",
    "(off)",
    "NDJSON line per xAPI statement stored (with its router ids): stdout, or a file path (rotated by size).",
    z.string().min(1).optional(),
  ),
  caliperStatementLog: v(
    "CALIPER_STATEMENT_LOG",
    "(off)",
    "The same for Caliper events: stdout, or a file path (may be the xAPI one).",
    z.string().min(1).optional(),
  ),
  statementLogMaxBytes: v(
    "STATEMENT_LOG_MAX_BYTES",
    "104857600",
    "A statement log file is rotated when it reaches this size (FILE.1, FILE.2, ...).",
    positiveInt,
  ),
  statementLogMaxFiles: v("STATEMENT_LOG_MAX_FILES", "5", "Rotated statement log files kept.", positiveInt.max(1000)),
};

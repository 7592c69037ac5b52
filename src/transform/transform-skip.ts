/**
 * Why an event produced no statements. Skips are normal outcomes reported per event (ERB raises ValueError and
 * drops the event), never RPC errors. `transformer_error` is the exception: a transformer threw something else (a
 * bug on input nobody foresaw); the event is still isolated like the others, and the emit path logs it at error.
 * `condition_failed` and `limit_exceeded` come from custom mappings: a mapping's own condition, or one of the
 * limits that keep a mapping from stalling the service (custom/mapping-format.ts MAPPING_LIMITS).
 */
export type SkipKind =
  | "missing_field"
  | "no_user"
  | "invalid_value"
  | "no_object_id"
  | "too_large"
  | "transformer_error"
  | "learner_forgotten"
  | "condition_failed"
  | "limit_exceeded";

export class TransformSkip extends Error {
  constructor(
    readonly kind: SkipKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "TransformSkip";
  }

  static missingField(field: string): TransformSkip {
    return new TransformSkip("missing_field", `required field "${field}" is missing or empty`);
  }

  static noUser(detail: string): TransformSkip {
    return new TransformSkip("no_user", `no resolvable user: ${detail}`);
  }

  static invalid(field: string, detail: string): TransformSkip {
    return new TransformSkip("invalid_value", `field "${field}" ${detail}`);
  }
}

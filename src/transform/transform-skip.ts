/**
 * Why an event produced no statements. Skips are normal outcomes reported per event (ERB raises ValueError and
 * drops the event), never RPC errors.
 */
export type SkipKind = "missing_field" | "no_user" | "invalid_value" | "no_object_id" | "too_large";

export class TransformSkip extends Error {
  constructor(
    readonly kind: SkipKind,
    message: string,
  ) {
    super(message);
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

/**
 * Domain errors as typed values, mapped to Connect codes in exactly one place (toConnectError). Anything else
 * becomes Internal with a fixed message, so internals never leak to callers.
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** A request field is invalid; `field` is its path in the request, e.g. "events[3].json". */
export class ValidationError extends Error {
  override name = "ValidationError";
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}

export class NotFoundError extends Error {
  override name = "NotFoundError";
}

export class AlreadyExistsError extends Error {
  override name = "AlreadyExistsError";
}

/** A precondition on stored state failed, e.g. an update raced another. */
export class ConflictError extends Error {
  override name = "ConflictError";
}

/** The call cannot apply to this resource as it is (e.g. reconcile of a Caliper router); the message says why. */
export class FailedPreconditionError extends Error {
  override name = "FailedPreconditionError";
}

/** NATS/JetStream (or another dependency) did not confirm; the caller may retry. */
export class UnavailableError extends Error {
  override name = "UnavailableError";
}

/** The caller's deadline passed before the work was done; what was done is named in the message. */
export class DeadlineExceededError extends Error {
  override name = "DeadlineExceededError";
}

/** The call was cancelled (the client went away, or the server is shutting down) before the work was done. */
export class CanceledError extends Error {
  override name = "CanceledError";
}

export class UnauthenticatedError extends Error {
  override name = "UnauthenticatedError";
}

export class PermissionDeniedError extends Error {
  override name = "PermissionDeniedError";
}

export class ResourceExhaustedError extends Error {
  override name = "ResourceExhaustedError";
}

export function toConnectError(e: unknown): ConnectError {
  if (e instanceof ConnectError) return e;
  if (e instanceof ValidationError) return new ConnectError(e.message, Code.InvalidArgument);
  if (e instanceof NotFoundError) return new ConnectError(e.message, Code.NotFound);
  if (e instanceof AlreadyExistsError) return new ConnectError(e.message, Code.AlreadyExists);
  if (e instanceof ConflictError) return new ConnectError(e.message, Code.Aborted);
  if (e instanceof FailedPreconditionError) return new ConnectError(e.message, Code.FailedPrecondition);
  if (e instanceof UnavailableError) return new ConnectError(e.message, Code.Unavailable);
  if (e instanceof DeadlineExceededError) return new ConnectError(e.message, Code.DeadlineExceeded);
  if (e instanceof CanceledError) return new ConnectError(e.message, Code.Canceled);
  if (e instanceof UnauthenticatedError) return new ConnectError(e.message, Code.Unauthenticated);
  if (e instanceof PermissionDeniedError) return new ConnectError(e.message, Code.PermissionDenied);
  if (e instanceof ResourceExhaustedError) return new ConnectError(e.message, Code.ResourceExhausted);
  return new ConnectError("internal error", Code.Internal);
}

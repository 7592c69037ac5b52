/**
 * Everything a transformer may read besides the event. Lookups (identity, course name) are resolved before the
 * transform by the ingest layer, so transformers stay pure functions of (event, env).
 */
export type AgentIfiType = "external_id" | "mbox" | "mbox_sha1sum";

export interface TransformSettings {
  /** LMS root URL without a trailing slash, e.g. "http://localhost:18000". Every IRI is built on it. */
  readonly lmsRootUrl: string;
  /** Value of the transformer-version extension, e.g. "event-routing@0.1.0". */
  readonly transformerVersion: string;
  /** XAPI_AGENT_IFI_TYPE equivalent. */
  readonly agentIfiType: AgentIfiType;
}

/** The learner as the identity provider knows them. */
export interface ResolvedUser {
  /** Anonymous external id (imported, or derived with the configured HMAC key). */
  readonly externalId?: string;
  readonly email?: string;
}

export interface ResolvedLookups {
  /** Undefined when the event names no user, or the provider cannot resolve them. */
  readonly user?: ResolvedUser;
  /** Display name of the event's course; undefined when unknown (the name is then omitted). */
  readonly courseName?: string;
}

export interface TransformEnv extends TransformSettings, ResolvedLookups {}

export function lmsIri(env: TransformSettings, path: string): string {
  return `${env.lmsRootUrl}${path.startsWith("/") ? "" : "/"}${path}`;
}

export function courseIri(env: TransformSettings, courseId: string): string {
  return `${env.lmsRootUrl}/course/${courseId}`;
}

export function xblockIri(env: TransformSettings, usageKey: string): string {
  return `${env.lmsRootUrl}/xblock/${usageKey}`;
}

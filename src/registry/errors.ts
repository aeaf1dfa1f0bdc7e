import { BerthError } from "../errors.js";

/** What went wrong talking to a registry; the CLI and tests switch on it, the message explains it. */
export type RegistryErrorKind =
  | "unreachable" // connection refused/reset/timed out after retries, DNS failure
  | "unauthorized" // 401: no or wrong credentials
  | "denied" // 403: authenticated but not allowed
  | "not-found" // 404: unknown repository, manifest or blob
  | "rate-limited" // 429 after retries
  | "digest-mismatch" // content does not hash to the digest that names it
  | "unsupported" // a manifest kind or platform berth cannot use
  | "protocol" // the registry answered something the distribution spec does not allow
  | "server"; // 5xx after retries

/**
 * A registry operation failed. Names the reference (image or blob) and, when the registry
 * answered, the HTTP status and the distribution-spec error code (MANIFEST_UNKNOWN, …).
 */
export class RegistryError extends BerthError {
  readonly kind: RegistryErrorKind;
  readonly reference: string;
  readonly status: number | undefined;
  readonly code: string | undefined;

  constructor(
    kind: RegistryErrorKind,
    reference: string,
    detail: string,
    options: { status?: number; code?: string; cause?: unknown } = {},
  ) {
    const status = options.status === undefined ? "" : ` (HTTP ${options.status})`;
    super(`${reference}: ${detail}${status}`, { exitCode: 1, cause: options.cause });
    this.kind = kind;
    this.reference = reference;
    this.status = options.status;
    this.code = options.code;
  }
}

/** The kind a final (non-retried) HTTP status maps to. */
export function kindForStatus(status: number): RegistryErrorKind {
  if (status === 401) return "unauthorized";
  if (status === 403) return "denied";
  if (status === 404) return "not-found";
  if (status === 429) return "rate-limited";
  if (status >= 500) return "server";
  return "protocol";
}

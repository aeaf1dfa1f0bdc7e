import type { Digest } from "../image/digest.js";
import { DEFAULT_DOMAIN, InvalidReferenceError, parseNormalizedNamed } from "../image/reference.js";
import { RegistryError } from "./errors.js";

/**
 * An image's place in a registry. The registry client works on this parsed form; the CLI
 * gets it from a user's string with parseRemoteReference (Docker's normalisation rules).
 */
export interface RemoteReference {
  /** Registry host[:port] as the user names it; `docker.io` for Docker Hub. */
  registry: string;
  /** Repository path, e.g. `library/busybox`. */
  repository: string;
  tag?: string;
  digest?: Digest;
}

/** A repository in a registry (what blob operations and auth scopes name). */
export interface RemoteRepository {
  registry: string;
  repository: string;
}

export const DOCKER_HUB = DEFAULT_DOMAIN;

/**
 * Parses `[registry/]repo[:tag][@digest]` with Docker's rules (src/image/reference.ts: the
 * first component is a registry if it has `.` or `:` or is `localhost`; Docker Hub names get
 * `library/`; no tag and no digest means `latest`), as a RegistryError naming the input.
 */
export function parseRemoteReference(text: string): RemoteReference {
  let parsed;
  try {
    parsed = parseNormalizedNamed(text);
  } catch (err) {
    if (err instanceof InvalidReferenceError) {
      throw new RegistryError("unsupported", text, `invalid reference format: ${err.reason}`, { cause: err });
    }
    throw err;
  }
  const ref: RemoteReference = { registry: parsed.domain, repository: parsed.path };
  if (parsed.tag !== undefined) ref.tag = parsed.tag;
  if (parsed.digest !== undefined) ref.digest = parsed.digest;
  return ref;
}

/** The canonical text of a reference: `registry/repo[:tag][@digest]`. */
export function formatRemoteReference(ref: RemoteReference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The manifest path element for a reference: its digest when pinned, else its tag. */
export function manifestSelector(ref: RemoteReference): string {
  return ref.digest ?? ref.tag ?? "latest";
}

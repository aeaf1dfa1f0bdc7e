import { isDigest, type Digest } from "./digest.js";

/**
 * Image references parsed as Docker's distribution/reference package does: `name`, `name:tag`,
 * `name@sha256:…`, `host[:port]/path/name[:tag][@digest]`, with Docker Hub's normalization
 * (`busybox` → `docker.io/library/busybox`, default tag `latest`).
 */
export interface ImageReference {
  /** Registry host (with port), e.g. `docker.io`, `localhost:5000`. */
  domain: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  path: string;
  tag?: string;
  digest?: Digest;
}

export const DEFAULT_DOMAIN = "docker.io";
export const DEFAULT_TAG = "latest";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";

const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DOMAIN_RE = /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;
const HEX64_RE = /^[a-f0-9]{64}$/;
const NAME_TOTAL_LENGTH_MAX = 255;

/** A reference that does not parse; `reason` says which rule it breaks. */
export class InvalidReferenceError extends Error {
  constructor(readonly reference: string, readonly reason: string) {
    super(`invalid reference format: ${JSON.stringify(reference)}: ${reason}`);
    this.name = "InvalidReferenceError";
  }
}

/** Parses and normalizes a reference as `docker pull`/`docker tag` accept it. */
export function parseReference(input: string): ImageReference {
  if (input.length === 0) throw new InvalidReferenceError(input, "empty reference");
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw new InvalidReferenceError(input, "digest must be sha256:<64 hex digits>");
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw new InvalidReferenceError(input, `invalid tag ${JSON.stringify(tag)}`);
  }
  if (rest.length === 0) throw new InvalidReferenceError(input, "empty repository name");
  if (HEX64_RE.test(rest)) {
    throw new InvalidReferenceError(input, "cannot specify 64-byte hexadecimal strings as a repository name");
  }
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    // Docker's rule: the first component is a registry host when it looks like one
    if (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN_RE.test(domain)) throw new InvalidReferenceError(input, `invalid registry host ${JSON.stringify(domain)}`);
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  for (const component of path.split("/")) {
    if (!PATH_COMPONENT_RE.test(component)) {
      const why = component !== component.toLowerCase() ? "repository name must be lowercase" : `invalid name component ${JSON.stringify(component)}`;
      throw new InvalidReferenceError(input, why);
    }
  }
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = OFFICIAL_REPO_PREFIX + path;
  if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) {
    throw new InvalidReferenceError(input, `repository name must not be longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Like parseReference, and adds the default tag when neither tag nor digest is given. */
export function parseNormalizedNamed(input: string): ImageReference {
  const ref = parseReference(input);
  if (ref.tag === undefined && ref.digest === undefined) ref.tag = DEFAULT_TAG;
  return ref;
}

/** `docker.io/library/busybox` */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalized string: `docker.io/library/busybox:latest`, `host/x@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The short form Docker prints (`busybox`, `me/app`, `localhost:5000/x`). */
export function familiarRepository(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  return ref.path.startsWith(OFFICIAL_REPO_PREFIX) ? ref.path.slice(OFFICIAL_REPO_PREFIX.length) : ref.path;
}

/** `busybox:latest`, `localhost:5000/x:v1`, `me/app@sha256:…`. */
export function familiarString(ref: ImageReference): string {
  let s = familiarRepository(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** Normalizes a tag reference for storage; refuses digests (a tag names, a digest identifies). */
export function normalizeTag(input: string): string {
  const ref = parseNormalizedNamed(input);
  if (ref.digest !== undefined) throw new InvalidReferenceError(input, "a tag cannot contain a digest");
  return formatReference(ref);
}

/** Whether `s` may be an image ID prefix (`sha256:` optional, at least 1 hex digit). */
export function looksLikeImageId(s: string): boolean {
  const hex = s.startsWith("sha256:") ? s.slice(7) : s;
  return /^[a-f0-9]{1,64}$/.test(hex);
}

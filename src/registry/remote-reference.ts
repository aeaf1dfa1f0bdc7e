import { isDigest, type Digest } from "../image/digest.js";
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

export const DOCKER_HUB = "docker.io";

const TAG_RE = /^[\w][\w.-]{0,127}$/;
const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/**
 * Parses `[registry/]repo[:tag][@digest]` the way Docker does: the first path component is a
 * registry if it contains `.` or `:` or is `localhost`; otherwise the image is on Docker Hub and
 * a one-component name gets `library/`. No tag and no digest means `latest`.
 */
export function parseRemoteReference(text: string): RemoteReference {
  const bad = (why: string): RegistryError =>
    new RegistryError("unsupported", text, `invalid reference format: ${why}`);
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw bad(`digest must be sha256:<64 hex digits>`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(`tag ${JSON.stringify(tag)}`);
  }
  const parts = rest.split("/");
  let registry = DOCKER_HUB;
  const first = parts[0] ?? "";
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    registry = first;
    parts.shift();
  }
  if (registry === "index.docker.io" || registry === "registry-1.docker.io") registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  for (const p of parts) {
    if (!COMPONENT_RE.test(p)) throw bad(`repository name component ${JSON.stringify(p)} must be lowercase letters, digits and separators`);
  }
  const ref: RemoteReference = { registry, repository: parts.join("/") };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = "latest";
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

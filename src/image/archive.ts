import type { Digest } from "./digest.js";

/**
 * The two archive formats `docker save`/`docker load` use, which current Docker writes
 * together in one tar: the legacy `manifest.json` (+ `repositories`) and an OCI image layout
 * (`oci-layout`, `index.json`, `blobs/sha256/…`).
 */
export interface DockerArchiveManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  LayerSources?: Record<string, unknown>;
}

export const OCI_LAYOUT_FILE = "oci-layout";
export const OCI_LAYOUT_VERSION = { imageLayoutVersion: "1.0.0" };
/** containerd's (and Docker's) annotation for the full image name in an OCI layout. */
export const ANNOTATION_IMAGE_NAME = "io.containerd.image.name";
export const ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";

export function blobPath(d: Digest): string {
  return `blobs/sha256/${d.slice("sha256:".length)}`;
}

/** The digest a `blobs/sha256/<hex>` or legacy `<hex>.json` path names, if it names one. */
export function digestFromPath(path: string): Digest | undefined {
  const m = /(?:^|\/)(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json)?$/.exec(path);
  return m ? (`sha256:${m[1]}` as Digest) : undefined;
}


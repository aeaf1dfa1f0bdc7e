import type { Digest } from "../image/digest.js";
import type { Descriptor, ImageIndex, ImageManifest } from "../image/types.js";
import type { BlobSource, PushBlobResult, RegistryClient } from "./client.js";
import { RegistryError } from "./errors.js";
import { mapLimit } from "./limit.js";
import type { ProgressCallback } from "./progress.js";
import { formatRemoteReference, type RemoteReference } from "./remote-reference.js";

/** What a push sends: a manifest's exact bytes, and a way to open each blob it names. */
export interface PushSource {
  manifest: { bytes: Buffer; mediaType: string };
  /** Opens a blob the manifest names (config or layer); the store makes compressed layers lazily here. */
  blob(desc: Descriptor): Promise<BlobSource>;
}

export interface PushOptions {
  /** Blobs uploaded at once (Docker's default max-concurrent-uploads is 5). */
  concurrency?: number;
  /** A repository on the same registry that may hold the blobs: cross-repository mount first. */
  mountFrom?: string;
  /** PATCH chunk size for resumable uploads; default one PUT per blob. */
  chunkSize?: number;
  onProgress?: ProgressCallback;
}

export interface PushResult {
  manifestDigest: Digest;
  uploaded: number;
  skipped: number;
  mounted: number;
  bytesUploaded: number;
}

/**
 * Pushes an image: every blob the manifest names (existence check first, so a re-push sends
 * nothing), several at once, and the manifest last, so the tag never names missing blobs.
 */
export async function pushImage(client: RegistryClient, ref: RemoteReference, source: PushSource, options: PushOptions = {}): Promise<PushResult> {
  const text = formatRemoteReference(ref);
  let manifest: ImageManifest | ImageIndex;
  try {
    manifest = JSON.parse(source.manifest.bytes.toString("utf8")) as ImageManifest | ImageIndex;
  } catch (err) {
    throw new RegistryError("protocol", text, `manifest to push is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!("config" in manifest) || !Array.isArray(manifest.layers)) {
    throw new RegistryError("unsupported", text, "only image manifests can be pushed (not indexes)");
  }
  const blobs = [manifest.config, ...manifest.layers];
  const counts: Record<PushBlobResult, number> = { exists: 0, mounted: 0, uploaded: 0 };
  let bytesUploaded = 0;
  await mapLimit(blobs, options.concurrency ?? 5, async (desc) => {
    const src = await source.blob(desc);
    const result = await client.pushBlob(ref, desc, src, {
      mountFrom: options.mountFrom,
      chunkSize: options.chunkSize,
      onProgress: options.onProgress,
      reference: text,
    });
    counts[result]++;
    if (result === "uploaded") bytesUploaded += desc.size;
  });
  const manifestDigest = await client.putManifest(ref, source.manifest.bytes, source.manifest.mediaType);
  return { manifestDigest, uploaded: counts.uploaded, skipped: counts.exists, mounted: counts.mounted, bytesUploaded };
}

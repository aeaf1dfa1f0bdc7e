import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, rm } from "node:fs/promises";
import { Transform, pipeline, type Readable, type TransformCallback, type Writable } from "node:stream";
import type { Digest } from "../image/digest.js";
import { MediaType, type Descriptor } from "../image/types.js";
import { syncFile } from "./atomic.js";
import type { BlobStore } from "./blobs.js";
import { StoreError } from "./errors.js";
import { compressionModule, layerModule, zlib, type Layers } from "./layers.js";
import type { Staging } from "./staging.js";
import type { LayerInfo } from "./types.js";

export interface PrepareLayerOptions {
  source?: string;
  asRoot?: boolean;
  /** The tar is this staged file under tmp/: it becomes the blob by a rename. */
  adoptFile?: string;
  /** Keep a gzip layer's own bytes as a blob (default); false: keep what a plain tar keeps. */
  keepCompressed?: boolean;
}

/** A layer applied into staging by prepare, not yet part of the store. */
export interface PreparedLayer {
  digest: Digest;
  diffId: Digest;
  size: number;
  compression: "gzip" | "none";
  commit(expect?: { expectedDigest?: Digest; expectedDiffId?: Digest }): Promise<LayerInfo>;
  discard(): Promise<void>;
}

/** Layer tars from outside (load, pull, import, a kept container's diff) applied into layers. */
export class LayerImports {
  constructor(private readonly layers: Layers, private readonly blobs: BlobStore, private readonly staging: Staging) {}

  /**
   * A layer tar (gzip or plain) → extracted layer, applied safely, its bytes kept (as a
   * tar-split record or a blob: see prepareLayer). `expected` checks the blob digest and/or
   * diff_id (as a manifest and config state them).
   */
  async import(tar: NodeJS.ReadableStream, opts: PrepareLayerOptions & { expectedDigest?: Digest; expectedDiffId?: Digest } = {}): Promise<LayerInfo> {
    const prepared = await this.prepare(tar, opts);
    try {
      return await prepared.commit(opts);
    } finally {
      await prepared.discard();
    }
  }

  /**
   * The first half of import: applies the tar into a staging dir and keeps its bytes, but
   * adds nothing to the store until `commit` (which checks what the manifest and config
   * expect). `discard` removes what was not committed. A load uses this to apply layers while
   * it reads the archive, before it has read the manifest that names them.
   *
   * What is kept: a gzip layer's own bytes as a blob (a manifest names that digest; gzip
   * output cannot be made again byte for byte) unless `keepCompressed` is false (an import);
   * otherwise a tar-split record, as Docker's layer store keeps: the tar's headers and padding,
   * which with the files in the layer dir give back the exact tar — so a load writes each layer
   * once, not twice. A tar whose later entries replace earlier files cannot be made again from
   * the dir: its bytes are kept as a blob then (the applier switches over mid-stream).
   */
  async prepare(tar: NodeJS.ReadableStream, opts: PrepareLayerOptions = {}): Promise<PreparedLayer> {
    const source = opts.source ?? "layer";
    const [{ applyLayer, LayerError }, { gunzipStream, peekCompression }] = await Promise.all([layerModule(), compressionModule()]);
    const { compression, stream } = await peekCompression(tar, source).catch((err: unknown) => {
      throw err instanceof StoreError ? err : new StoreError((err as Error).message, { cause: err });
    });
    const staged = this.staging.path("layer");
    // adoptFile: `tar` reads a staged file under tmp/ (a load); once verified it becomes the
    // blob by a rename instead of being written a second time
    const blobTmp = opts.adoptFile ?? this.blobs.tempPath("blob");
    const useSplit = opts.adoptFile === undefined && (compression === "none" || opts.keepCompressed === false);
    const hashRaw = !(useSplit && compression === "gzip"); // an import's gzip bytes are not kept: no digest needed
    await mkdir(staged, { mode: 0o755 });
    const rawHash = createHash("sha256");
    const diffHash = createHash("sha256");
    let rawSize = 0;
    let size = 0;
    let tarSplit: Buffer | undefined;
    let spilled = false;
    let contentSize = 0;
    let opaque: string[] = [];
    let file: Writable | undefined;
    const cleanup = async (): Promise<void> => {
      file?.destroy();
      await rm(staged, { recursive: true, force: true });
      if (opts.adoptFile === undefined) await rm(blobTmp, { force: true });
    };
    try {
      file = opts.adoptFile === undefined && !useSplit ? createWriteStream(blobTmp, { flags: "wx", mode: 0o644 }) : undefined;
      const fileDone = file === undefined ? Promise.resolve() : new Promise<void>((res, rej) => { file!.on("finish", () => res()); file!.on("error", rej); });
      // heard even when the tar reader fails first and this is never awaited
      fileDone.catch(() => undefined);
      let tarOut: Readable = stream;
      if (compression === "gzip") {
        const tapRaw = new Transform({
          transform(chunk: Buffer, _e, cb: TransformCallback) {
            if (hashRaw) rawHash.update(chunk);
            rawSize += chunk.length;
            if (file === undefined || file.write(chunk)) cb(null, chunk);
            else file.once("drain", () => cb(null, chunk));
          },
          flush(cb) {
            file?.end();
            cb();
          },
        });
        const gunzip = gunzipStream(source) as Transform;
        // pipeline, not pipe(): any stream's error reaches the tar reader (gunzip is destroyed
        // with it), and so does one from before this point: peekCompression buffers the first
        // MB, so a small bad download can be read to its end, found not to match its digest
        // and destroyed while the staging dir is made. pipe() of that stream hung the reader
        // (no data, no end, no error) until the event loop drained: a pull exited 0.
        pipeline(stream, tapRaw, gunzip, () => undefined);
        tarOut = gunzip;
      }
      // the tar is hashed by the applier as it reads it (its diff_id; a plain tar's digest too)
      const applied = await applyLayer(tarOut, staged, {
        source,
        tap: (c) => diffHash.update(c),
        ...(opts.asRoot !== undefined ? { asRoot: opts.asRoot } : {}),
        ...(useSplit ? { split: { spillFile: blobTmp } } : {}),
      });
      size = applied.bytes;
      tarSplit = applied.tarSplit;
      contentSize = applied.contentSize;
      opaque = applied.opaque;
      spilled = applied.spilled === true;
      await fileDone;
    } catch (err) {
      await cleanup();
      if (err instanceof LayerError && !(err instanceof StoreError)) throw new StoreError(err.message, { cause: err });
      if (err instanceof StoreError) throw err;
      throw new StoreError(`${source}: ${(err as Error).message}`, { cause: err });
    }
    const diffId = `sha256:${diffHash.digest("hex")}` as Digest;
    const digest = compression === "gzip" ? (hashRaw ? (`sha256:${rawHash.digest("hex")}` as Digest) : diffId) : diffId;
    if (compression !== "gzip") rawSize = size;
    let committed: Promise<LayerInfo> | undefined;
    let discarded = false;
    return {
      digest,
      diffId,
      size,
      compression,
      commit: (expect = {}) => {
        if (expect.expectedDigest !== undefined && digest !== expect.expectedDigest) {
          return Promise.reject(new StoreError(`${source}: digest mismatch: expected ${expect.expectedDigest}, got ${digest}`));
        }
        if (expect.expectedDiffId !== undefined && diffId !== expect.expectedDiffId) {
          return Promise.reject(new StoreError(`${source}: layer diff_id mismatch: the image config says ${expect.expectedDiffId}, the layer is ${diffId}`));
        }
        if (discarded) return Promise.reject(new StoreError(`${source}: layer was discarded`));
        committed ??= (async () => {
          if (tarSplit !== undefined) {
            const splitTmp = this.staging.path("split");
            try {
              const { gzip } = await zlib();
              const packed = await new Promise<Buffer>((resolve, reject) => gzip(tarSplit, { level: 1 }, (err, out) => (err !== null ? reject(err) : resolve(out))));
              await writeFileDurable(splitTmp, packed);
              return await this.layers.commit(diffId, size, staged, { reproducible: false, contentSize, opaque }, undefined, splitTmp);
            } catch (err) {
              await rm(splitTmp, { force: true });
              throw err;
            }
          }
          await syncFile(blobTmp);
          // a spilled tar is the plain tar, whatever the input's compression was
          const desc: Descriptor = spilled || compression !== "gzip"
            ? { mediaType: MediaType.OciLayer, digest: diffId, size }
            : { mediaType: MediaType.OciLayerGzip, digest, size: rawSize };
          return this.layers.commit(diffId, size, staged, { reproducible: false, contentSize, opaque }, { tmp: blobTmp, desc });
        })();
        return committed;
      },
      discard: async () => {
        if (committed !== undefined || discarded) return;
        discarded = true;
        await cleanup();
      },
    };
  }
}

async function writeFileDurable(path: string, data: Buffer): Promise<void> {
  const fh = await open(path, "wx", 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

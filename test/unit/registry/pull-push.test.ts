import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Digest, type Digest } from "../../../src/image/digest.js";
import { MediaType, type Descriptor, type ImageConfig, type ImageManifest } from "../../../src/image/types.js";
import { RegistryClient, RegistryError, fetchCacheIndex, fetchCacheLayers, pullImage, pushCache, pushImage, type CacheIndex, type PullStore, type PulledImage, type PulledLayer, type PushSource } from "../../../src/registry/index.js";
import { startRegistry, type RegistryFixture } from "../../helpers/registry.js";

/**
 * pull/push orchestration against the real registry, with an in-memory stand-in for the store
 * (the store boundary is faked here; the integration tests use the real store).
 */
class MemoryStore implements PullStore {
  blobs = new Map<Digest, Buffer>();
  layers = new Map<Digest, PulledLayer>();
  images: { config: ImageConfig; tags: string[]; manifest?: Digest }[] = [];
  imports = 0;

  async putBlob(data: Uint8Array | NodeJS.ReadableStream, expected?: Digest): Promise<{ digest: Digest; size: number }> {
    const buf = Buffer.isBuffer(data) ? data : data instanceof Uint8Array ? Buffer.from(data) : await collect(data as Readable);
    const digest = sha256Digest(buf);
    if (expected !== undefined && expected !== digest) throw new Error(`blob ${digest} is not ${expected}`);
    this.blobs.set(digest, buf);
    return { digest, size: buf.length };
  }
  async hasBlob(d: Digest): Promise<boolean> {
    return this.blobs.has(d);
  }
  async readBlob(d: Digest): Promise<Buffer> {
    const b = this.blobs.get(d);
    if (b === undefined) throw new Error(`no blob ${d}`);
    return b;
  }
  async layer(diffId: Digest): Promise<PulledLayer | undefined> {
    return this.layers.get(diffId);
  }
  async importLayer(tar: NodeJS.ReadableStream, opts: { expectedDigest?: Digest; expectedDiffId?: Digest } = {}): Promise<PulledLayer> {
    this.imports++;
    const gz = await collect(tar as Readable);
    const raw = gunzipSync(gz);
    const info = { diffId: sha256Digest(raw), size: raw.length, dir: `/layers/${this.layers.size}` };
    if (opts.expectedDigest !== undefined && sha256Digest(gz) !== opts.expectedDigest) throw new Error("layer: digest mismatch");
    if (opts.expectedDiffId !== undefined && info.diffId !== opts.expectedDiffId) throw new Error(`layer: diff_id mismatch: the image config says ${opts.expectedDiffId}`);
    this.blobs.set(sha256Digest(gz), gz);
    this.layers.set(info.diffId, info);
    return info;
  }
  async addImage(configBytes: Buffer, opts: { manifestBytes?: Buffer; tags?: string[] } = {}): Promise<PulledImage> {
    const config = JSON.parse(configBytes.toString()) as ImageConfig;
    const manifest = opts.manifestBytes === undefined ? undefined : sha256Digest(opts.manifestBytes);
    if (opts.manifestBytes !== undefined) this.blobs.set(manifest!, opts.manifestBytes);
    this.images.push({ config, tags: opts.tags ?? [], manifest });
    return { id: sha256Digest(configBytes), manifestDigest: manifest ?? sha256Digest("made here"), repoTags: opts.tags ?? [] };
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Puts a 3-layer image into a MemoryStore; returns its push source. */
function makeImage(store: MemoryStore, opts: { badDiffId?: boolean } = {}): { source: PushSource; manifestDigest: Digest; configDigest: Digest } {
  const layers: Descriptor[] = [];
  const diffIds: Digest[] = [];
  for (let i = 0; i < 3; i++) {
    const raw = randomBytes(100_000 + i);
    const gz = gzipSync(raw);
    const digest = sha256Digest(gz);
    store.blobs.set(digest, gz);
    layers.push({ mediaType: MediaType.OciLayerGzip, digest, size: gz.length });
    diffIds.push(opts.badDiffId === true && i === 1 ? sha256Digest("not it") : sha256Digest(raw));
  }
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: diffIds } }));
  const configDigest = sha256Digest(config);
  store.blobs.set(configDigest, config);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.length }, layers };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const source: PushSource = {
    manifest: { bytes, mediaType: MediaType.OciManifest },
    blob: async (d) => {
      const b = await store.readBlob(d.digest);
      return { size: b.length, open: (start) => Readable.from([b.subarray(start)]) };
    },
  };
  return { source, manifestDigest: sha256Digest(bytes), configDigest };
}

describe("pullImage / pushImage", () => {
  let reg: RegistryFixture;
  let client: RegistryClient;
  beforeAll(async () => {
    reg = await startRegistry({ auth: "token" });
    client = new RegistryClient({ credentials: async () => ({ username: reg.username, password: reg.password }), retry: { retries: 1, baseDelayMs: 5, maxDelayMs: 10 } });
  });
  afterAll(async () => {
    client?.close();
    await reg?.stop();
  });

  it("push from one store, pull into an empty one: same manifest and config digests; a re-pull fetches nothing", async () => {
    const a = new MemoryStore();
    const img = makeImage(a);
    const ref = { registry: reg.host, repository: "berth/pp", tag: "v1" };
    const pushed = await pushImage(client, ref, img.source);
    expect(pushed).toMatchObject({ manifestDigest: img.manifestDigest, uploaded: 4, skipped: 0 });
    expect((await pushImage(client, ref, img.source)).uploaded).toBe(0);

    const b = new MemoryStore();
    const pulled = await pullImage(client, b, ref);
    expect(pulled.manifestDigest).toBe(img.manifestDigest);
    expect(pulled.layersFetched).toBe(3);
    expect(b.images).toHaveLength(1);
    expect(b.images[0]?.manifest).toBe(img.manifestDigest);
    expect(b.images[0]?.tags).toEqual([`${reg.host}/berth/pp:v1`]);
    expect(sha256Digest(await b.readBlob(img.configDigest))).toBe(img.configDigest);
    expect(await b.hasBlob(img.manifestDigest)).toBe(true);

    const again = await pullImage(client, b, ref);
    expect(again).toMatchObject({ layersFetched: 0, layersSkipped: 3 });
    expect(b.imports).toBe(3);
  });

  it("refuses a layer whose content does not match the config's diff_id, creating no image", async () => {
    const a = new MemoryStore();
    const img = makeImage(a, { badDiffId: true });
    const ref = { registry: reg.host, repository: "berth/bad", tag: "v1" };
    await pushImage(client, ref, img.source);
    const b = new MemoryStore();
    const err = await pullImage(client, b, ref).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).kind).toBe("digest-mismatch");
    expect(b.images).toHaveLength(0);
  });

  it("an unknown repository is a 404 naming it, the store untouched", async () => {
    const b = new MemoryStore();
    const err = await pullImage(client, b, { registry: reg.host, repository: "berth/nothing", tag: "v1" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "not-found", status: 404 });
    expect((err as Error).message).toContain(`${reg.host}/berth/nothing:v1`);
    expect(b.blobs.size).toBe(0);
    expect(b.images).toHaveLength(0);
  });

  it("build cache artifact: push layers + key index, import the index, fetch only the layers a hit needs", async () => {
    const a = new MemoryStore();
    const layers: Record<string, Descriptor> = {};
    const diffIds: Digest[] = [];
    for (let i = 0; i < 3; i++) {
      const raw = randomBytes(50_000);
      const gz = gzipSync(raw);
      const d = sha256Digest(gz);
      a.blobs.set(d, gz);
      const diffId = sha256Digest(raw);
      diffIds.push(diffId);
      layers[diffId] = { mediaType: MediaType.OciLayerGzip, digest: d, size: gz.length };
    }
    const index: CacheIndex = {
      version: 1,
      entries: { "key-1": { layers: [diffIds[0]!] }, "key-2": { layers: [diffIds[0]!, diffIds[1]!], note: "opaque" }, "key-3": { layers: [diffIds[2]!] } },
      layers,
    };
    const ref = { registry: reg.host, repository: "berth/cache", tag: "main" };
    await pushCache(client, ref, index, async (desc) => {
      const b = await a.readBlob(desc.digest);
      return { size: b.length, open: (start) => Readable.from([b.subarray(start)]) };
    });
    const got = await fetchCacheIndex(client, ref);
    expect(got.index).toEqual(index);
    const b = new MemoryStore();
    const fetched = await fetchCacheLayers(client, b, ref, got.index, got.index.entries["key-2"]!.layers);
    expect(new Set(fetched)).toEqual(new Set([diffIds[0], diffIds[1]]));
    expect(b.layers.has(diffIds[2]!)).toBe(false);
    expect(await fetchCacheLayers(client, b, ref, got.index, [diffIds[0]!])).toEqual([]);
  });

  it("a cache ref that is not a berth cache is refused naming it", async () => {
    const a = new MemoryStore();
    const img = makeImage(a);
    const ref = { registry: reg.host, repository: "berth/notcache", tag: "v1" };
    await pushImage(client, ref, img.source);
    await expect(fetchCacheIndex(client, ref)).rejects.toThrow(/berth\/notcache:v1: not a berth build cache/);
  });
});

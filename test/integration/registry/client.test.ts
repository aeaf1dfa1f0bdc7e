import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Digest } from "../../../src/image/digest.js";
import { MediaType, type ImageIndex, type ImageManifest } from "../../../src/image/types.js";
import { RegistryClient, RegistryError, storeCredentials, type BlobSource, type Credentials } from "../../../src/registry/index.js";
import { freePort, startRegistry, type RegistryFixture } from "../../helpers/registry.js";

function bufferSource(buf: Buffer): BlobSource {
  return { size: buf.length, open: (start) => Readable.from([buf.subarray(start)]) };
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const FAST_RETRY = { retries: 2, baseDelayMs: 10, maxDelayMs: 50 };

/** Pushes a one-layer image (random layer bytes) and returns what was pushed. */
async function pushImage(client: RegistryClient, host: string, repository: string, tag: string, layerSize = 200_000) {
  const layer = randomBytes(layerSize);
  const layerDigest = sha256Digest(layer);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layerDigest] } }));
  const configDigest = sha256Digest(config);
  const repo = { registry: host, repository };
  await client.pushBlob(repo, { digest: layerDigest, size: layer.length, mediaType: MediaType.OciLayerGzip }, bufferSource(layer));
  await client.pushBlob(repo, { digest: configDigest, size: config.length, mediaType: MediaType.OciConfig }, bufferSource(config));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.length },
    layers: [{ mediaType: MediaType.OciLayerGzip, digest: layerDigest, size: layer.length }],
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = await client.putManifest({ registry: host, repository, tag }, manifestBytes, MediaType.OciManifest);
  return { layer, layerDigest, config, configDigest, manifestBytes, manifestDigest };
}

const variants = ["none", "htpasswd", "token"] as const;

describe.each(variants)("registry client against docker-registry (auth: %s)", (auth) => {
  let reg: RegistryFixture;
  let client: RegistryClient;
  const creds = (): Credentials | undefined => (auth === "none" ? undefined : { username: reg.username, password: reg.password });

  beforeAll(async () => {
    reg = await startRegistry({ auth });
    client = new RegistryClient({ credentials: async () => creds(), retry: FAST_RETRY });
  });
  afterAll(async () => {
    client?.close();
    await reg?.stop();
  });

  it("pushes blobs and a manifest, then reads them back verified", async () => {
    const pushed = await pushImage(client, reg.host, "berth/one", "v1");
    const resolved = await client.getManifest({ registry: reg.host, repository: "berth/one", tag: "v1" });
    expect(resolved.digest).toBe(pushed.manifestDigest);
    expect(resolved.mediaType).toBe(MediaType.OciManifest);
    expect(resolved.bytes.equals(pushed.manifestBytes)).toBe(true);
    const byDigest = await client.getManifest({ registry: reg.host, repository: "berth/one", digest: pushed.manifestDigest });
    expect(byDigest.manifest.layers[0]?.digest).toBe(pushed.layerDigest);
    const events: string[] = [];
    const layer = await collect(
      client.fetchBlob({ registry: reg.host, repository: "berth/one" }, resolved.manifest.layers[0]!, { onProgress: (e) => events.push(e.state) }),
    );
    expect(layer.equals(pushed.layer)).toBe(true);
    expect(events.at(-1)).toBe("done");
    expect(await client.blobExists({ registry: reg.host, repository: "berth/one" }, pushed.layerDigest)).toBe(true);
    expect(await client.blobExists({ registry: reg.host, repository: "berth/one" }, sha256Digest("nope"))).toBe(false);
    if (auth === "token") {
      // one token per scope set, reused: not one per request
      const scopes = reg.tokenRequests.map((r) => r.scopes.join(" "));
      expect(scopes).toContain("repository:berth/one:pull,push");
      expect(reg.tokenRequests.length).toBeLessThanOrEqual(3);
    }
  });

  it("skips blobs the registry has and mounts blobs from another repository", async () => {
    const pushed = await pushImage(client, reg.host, "berth/src", "v1");
    const again = await client.pushBlob({ registry: reg.host, repository: "berth/src" }, { digest: pushed.layerDigest, size: pushed.layer.length, mediaType: MediaType.OciLayerGzip }, bufferSource(pushed.layer));
    expect(again).toBe("exists");
    const mounted = await client.pushBlob(
      { registry: reg.host, repository: "berth/dst" },
      { digest: pushed.layerDigest, size: pushed.layer.length, mediaType: MediaType.OciLayerGzip },
      { size: pushed.layer.length, open: () => { throw new Error("a mount must not read the blob"); } },
      { mountFrom: "berth/src" },
    );
    expect(mounted).toBe("mounted");
    expect(await client.blobExists({ registry: reg.host, repository: "berth/dst" }, pushed.layerDigest)).toBe(true);
  });

  it("uploads in PATCH chunks", async () => {
    const blob = randomBytes(300_000);
    const digest = sha256Digest(blob);
    const repo = { registry: reg.host, repository: "berth/chunked" };
    expect(await client.pushBlob(repo, { digest, size: blob.length, mediaType: MediaType.OciLayer }, bufferSource(blob), { chunkSize: 64 * 1024 })).toBe("uploaded");
    expect((await collect(client.fetchBlob(repo, { digest, size: blob.length, mediaType: MediaType.OciLayer }))).equals(blob)).toBe(true);
  });

  it("picks linux/amd64 from an index", async () => {
    const amd = await pushImage(client, reg.host, "berth/multi", "amd64");
    const arm = await pushImage(client, reg.host, "berth/multi", "arm64");
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { mediaType: MediaType.OciManifest, digest: arm.manifestDigest, size: arm.manifestBytes.length, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
        { mediaType: MediaType.OciManifest, digest: amd.manifestDigest, size: amd.manifestBytes.length, platform: { os: "linux", architecture: "amd64" } },
      ],
    };
    const indexBytes = Buffer.from(JSON.stringify(index));
    await client.putManifest({ registry: reg.host, repository: "berth/multi", tag: "latest" }, indexBytes, MediaType.OciIndex);
    const resolved = await client.getManifest({ registry: reg.host, repository: "berth/multi", tag: "latest" }, { platform: { os: "linux", architecture: "amd64" } });
    expect(resolved.digest).toBe(amd.manifestDigest);
    expect(resolved.index?.digest).toBe(sha256Digest(indexBytes));
    const armResolved = await client.getManifest({ registry: reg.host, repository: "berth/multi", tag: "latest" }, { platform: { os: "linux", architecture: "arm64", variant: "v8" } });
    expect(armResolved.digest).toBe(arm.manifestDigest);
    await expect(client.getManifest({ registry: reg.host, repository: "berth/multi", tag: "latest" }, { platform: { os: "linux", architecture: "s390x" } })).rejects.toThrow(/no image for platform linux\/s390x/);
  });

  it("names the reference and 404 for an unknown repository", async () => {
    const err = await client.getManifest({ registry: reg.host, repository: "berth/missing", tag: "v9" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).kind).toBe("not-found");
    expect((err as RegistryError).status).toBe(404);
    expect((err as RegistryError).message).toContain(`${reg.host}/berth/missing:v9`);
  });

  it("fails with a digest mismatch when the registry serves corrupted blob bytes", async () => {
    const pushed = await pushImage(client, reg.host, "berth/corrupt", "v1", 50_000);
    const dataFile = join(reg.storageDir, "docker/registry/v2/blobs/sha256", pushed.layerDigest.slice(7, 9), pushed.layerDigest.slice(7), "data");
    await writeFile(dataFile, randomBytes(pushed.layer.length));
    const err = await collect(client.fetchBlob({ registry: reg.host, repository: "berth/corrupt" }, { digest: pushed.layerDigest, size: pushed.layer.length, mediaType: MediaType.OciLayerGzip })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).kind).toBe("digest-mismatch");
    expect((err as RegistryError).message).toContain(pushed.layerDigest);
  });

  if (auth !== "none") {
    it("refuses a wrong password with 401 and nothing pushed", async () => {
      const bad = new RegistryClient({ credentials: async () => ({ username: reg.username, password: "wrong" }), retry: FAST_RETRY });
      try {
        const err = await bad.getManifest({ registry: reg.host, repository: "berth/one", tag: "v1" }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RegistryError);
        expect((err as RegistryError).kind).toBe("unauthorized");
        expect((err as RegistryError).status).toBe(401);
        await expect(bad.login(reg.host, { username: reg.username, password: "wrong" })).rejects.toMatchObject({ kind: "unauthorized" });
        await expect(client.login(reg.host, { username: reg.username, password: reg.password })).resolves.toBeUndefined();
      } finally {
        bad.close();
      }
    });

    it("is refused without credentials", async () => {
      const anon = new RegistryClient({ credentials: async () => undefined, retry: FAST_RETRY });
      try {
        await expect(anon.getManifest({ registry: reg.host, repository: "berth/one", tag: "v1" })).rejects.toMatchObject({ kind: "unauthorized", status: 401 });
      } finally {
        anon.close();
      }
    });

    it("reads logins from a Docker config file (DOCKER_CONFIG layout)", async () => {
      const dir = await mkdtemp(join(tmpdir(), "berth-dockercfg-"));
      try {
        const path = join(dir, "config.json");
        await storeCredentials(reg.host, { username: reg.username, password: reg.password }, path);
        const { dockerConfigCredentials } = await import("../../../src/registry/index.js");
        const fromFile = new RegistryClient({ credentials: dockerConfigCredentials(path), retry: FAST_RETRY });
        try {
          await expect(fromFile.blobExists({ registry: reg.host, repository: "berth/one" }, sha256Digest("x"))).resolves.toBe(false);
        } finally {
          fromFile.close();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

describe("unreachable registry", () => {
  it("fails with kind unreachable naming the registry after bounded retries", async () => {
    const port = await freePort();
    const client = new RegistryClient({ credentials: async () => undefined, retry: FAST_RETRY });
    try {
      const started = Date.now();
      const err = await client.getManifest({ registry: `127.0.0.1:${port}`, repository: "x/y", tag: "latest" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).kind).toBe("unreachable");
      expect((err as RegistryError).message).toContain(`127.0.0.1:${port}`);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      client.close();
    }
  });
});

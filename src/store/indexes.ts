import { join } from "node:path";
import type { Digest } from "../image/digest.js";
import { familiarString, parseReference } from "../image/reference.js";
import { formatPlatform, hostPlatform, platformMatches, platformOfConfig, selectPlatform } from "../image/platform.js";
import { MediaType, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from "../image/types.js";
import { readRecordFile, writeFileAtomic } from "./atomic.js";
import type { BlobStore } from "./blobs.js";
import { StoreError } from "./errors.js";
import type { Locks } from "./locks.js";
import { tagKey, type Refs } from "./refs.js";

/** One platform's image in a multi-platform image. */
export interface IndexMember {
  platform: Platform;
  /** the image ID (its config digest) */
  id: Digest;
  manifestDigest: Digest;
}

/** A multi-platform image: an OCI image index (a blob, kept byte for byte) and its images. */
export interface IndexRecord {
  digest: Digest;
  bytes: Buffer;
  index: ImageIndex;
  members: IndexMember[];
}

/**
 * `indexes.json`: tags of multi-platform images → their image index. The tag itself stays in
 * refs.json, on one of the index's images (this machine's platform, or the first): everything
 * that knows one image per tag goes on working. An entry counts only while its tag is on one
 * of the index's images, so a tag moved by `tag`, `build -t` or `rmi` ends the multi-platform
 * image without this file being touched; gc.ts keeps the blobs of the entries that count.
 */
export class Indexes {
  readonly path: string;

  constructor(root: string, private readonly locks: Locks, private readonly blobs: BlobStore, private readonly refs: Refs, private readonly imageExists: (id: Digest) => Promise<boolean>) {
    this.path = join(root, "indexes.json");
  }

  async read(): Promise<Record<string, Digest>> {
    try {
      return JSON.parse(await readRecordFile(this.path)) as Record<string, Digest>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw new StoreError(`${this.path} is unreadable: ${(err as Error).message}`);
    }
  }

  /** The index's images, each found in the store (an index naming a missing image is refused). */
  async members(index: ImageIndex): Promise<IndexMember[]> {
    const out: IndexMember[] = [];
    for (const d of index.manifests) {
      if (d.platform === undefined || d.platform.os === "unknown") continue; // attestations
      const manifest = JSON.parse((await this.blobs.read(d.digest).catch(() => {
        throw new StoreError(`image index names manifest ${d.digest} (${formatPlatform(d.platform!)}), which is not in the store`);
      })).toString("utf8")) as ImageManifest;
      if (!(await this.imageExists(manifest.config.digest))) throw new StoreError(`image index names image ${manifest.config.digest}, which is not in the store`);
      out.push({ platform: d.platform, id: manifest.config.digest, manifestDigest: d.digest });
    }
    if (out.length === 0) throw new StoreError("image index holds no image");
    return out;
  }

  /**
   * Stores an index of images already in the store and points `tags` at it (and, in
   * refs.json, at its image for this machine, else its first).
   */
  async add(indexBytes: Buffer, tags: readonly string[]): Promise<IndexRecord> {
    const index = JSON.parse(indexBytes.toString("utf8")) as ImageIndex;
    const members = await this.members(index);
    const { digest } = await this.blobs.put(indexBytes);
    const keys = tags.map((t) => tagKey(t));
    if (keys.length > 0) {
      await this.locks.with("indexes", async () => {
        const all = await this.read();
        for (const k of keys) all[k] = digest;
        await writeFileAtomic(this.path, `${JSON.stringify(Object.fromEntries(Object.entries(all).sort(([a], [b]) => (a < b ? -1 : 1))), null, 1)}\n`);
      });
      const home = defaultMember(members);
      for (const k of keys) await this.refs.tag(k, home.id);
    }
    return { digest, bytes: indexBytes, index, members };
  }

  /**
   * Every tag of the multi-platform image `old` (its images `ids`) names `bytes` from now on: a
   * push that rewrote its images' manifests (layers compressed) made that index stale, and the
   * replaced manifests are gone from the store.
   */
  async replace(old: Digest, ids: readonly Digest[], bytes: Buffer): Promise<IndexRecord> {
    const refs = await this.refs.read();
    const tags = Object.entries(await this.read()).filter(([k, d]) => d === old && refs[k] !== undefined && ids.includes(refs[k])).map(([k]) => k);
    return this.add(bytes, tags);
  }

  /** Tags that name a single image from now on, though it is one of their index's images. */
  async forget(tags: readonly string[]): Promise<void> {
    await this.locks.with("indexes", async () => {
      const all = await this.read();
      for (const t of tags) delete all[tagKey(t)];
      await writeFileAtomic(this.path, `${JSON.stringify(all, null, 1)}\n`);
    });
  }

  /** An OCI image index over images of the store (`build --platform a,b`), stored and tagged. */
  async create(images: readonly { id: Digest; manifestDigest: Digest; config: ImageConfig; manifest: ImageManifest }[], tags: readonly string[]): Promise<IndexRecord> {
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: await Promise.all(images.map(async (i) => ({
        mediaType: i.manifest.mediaType ?? MediaType.OciManifest,
        digest: i.manifestDigest,
        size: await this.blobs.size(i.manifestDigest),
        platform: platformOfConfig(i.config),
      }))),
    };
    return this.add(Buffer.from(JSON.stringify(index)), tags);
  }

  /** The multi-platform image a tag names, if it names one (see the class comment). */
  async forTag(ref: string, refs?: Record<string, Digest>): Promise<IndexRecord | undefined> {
    let key: string;
    try {
      key = tagKey(ref);
    } catch {
      return undefined;
    }
    const digest = (await this.read())[key];
    if (digest === undefined) return undefined;
    const record = await this.byDigest(digest).catch(() => undefined);
    const current = (refs ?? (await this.refs.read()))[key];
    return record !== undefined && record.members.some((m) => m.id === current) ? record : undefined;
  }

  async byDigest(digest: Digest): Promise<IndexRecord> {
    const bytes = await this.blobs.read(digest);
    const index = JSON.parse(bytes.toString("utf8")) as ImageIndex;
    return { digest, bytes, index, members: await this.members(index) };
  }

  /** Each image of a multi-platform image → the tags (familiar) of those it is in: `images` and `inspect` show them. */
  async memberTags(): Promise<Map<Digest, string[]>> {
    const out = new Map<Digest, string[]>();
    for (const [tag, index] of await this.list()) {
      for (const m of index.members) out.set(m.id, [...(out.get(m.id) ?? []), familiarString(parseReference(tag))]);
    }
    return out;
  }

  /** Every tag that names a multi-platform image, with it. */
  async list(): Promise<Map<string, IndexRecord>> {
    const refs = await this.refs.read();
    const out = new Map<string, IndexRecord>();
    for (const key of Object.keys(await this.read())) {
      const record = await this.forTag(key, refs);
      if (record !== undefined) out.set(key, record);
    }
    return out;
  }
}

/** The member a plain reference means: this machine's platform, else the first. */
export function defaultMember(members: readonly IndexMember[]): IndexMember {
  return members.find((m) => platformMatches(hostPlatform(), m.platform)) ?? members[0]!;
}

/** The member for a platform (containerd's matcher), as selectPlatform picks index entries. */
export function memberFor(record: IndexRecord, platform: Platform): IndexMember | undefined {
  const entry = selectPlatform({ ...record.index, manifests: record.index.manifests.filter((d) => record.members.some((m) => m.manifestDigest === d.digest)) }, platform);
  return entry === undefined ? undefined : record.members.find((m) => m.manifestDigest === entry.digest);
}

import { existsSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { readFile, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { digestHex, isDigest, sha256Digest, shortId, type Digest } from "../image/digest.js";
import { MediaType, type Descriptor, type ImageConfig, type ImageManifest } from "../image/types.js";
import { familiarString, looksLikeImageId, parseReference, InvalidReferenceError, DEFAULT_TAG, formatReference } from "../image/reference.js";
import { readRecordFile, writeFileAtomic } from "./atomic.js";
import type { BlobStore } from "./blobs.js";
import type { Durability } from "./durability.js";
import { NoSuchImageError, StoreError } from "./errors.js";
import type { Layers } from "./layers.js";
import { digestKey, refsChange, refsText, tagKey, type Refs } from "./refs.js";
import type { Staging } from "./staging.js";
import type { ImageEntry, ImageRecord, ImageSource } from "./types.js";

function sameSource(a: ImageSource | undefined, b: ImageSource | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Image records, `images/<hex>.json` (config digest → manifest digest); config and manifest are blobs. */
export class Images {
  readonly dir: string;

  constructor(root: string, private readonly blobs: BlobStore, private readonly layers: Layers, private readonly refs: Refs, private readonly durability: Durability, private readonly staging: Staging) {
    this.dir = join(root, "images");
  }

  entryPath(id: Digest): string {
    return join(this.dir, `${digestHex(id)}.json`);
  }

  /**
   * Adds an image from its exact config bytes (the ID is their digest) and, when given, the
   * exact manifest bytes (kept so that save → load keeps the manifest digest).
   */
  async add(configBytes: Buffer, opts: { manifestBytes?: Buffer; tags?: string[]; repoDigests?: string[]; source?: ImageSource } = {}): Promise<ImageRecord> {
    const config = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
    const diffIds = config.rootfs?.diff_ids ?? [];
    const layerDescs: Descriptor[] = (await Promise.all(diffIds.map((d) => this.layers.record(d)))).map((r, i) => {
      if (r === undefined) throw new StoreError(`cannot create image: layer ${diffIds[i]} is not in the store`);
      return r.blobs[0] ?? { mediaType: MediaType.OciLayer, digest: r.diffId, size: r.size };
    });
    const cfg = { digest: sha256Digest(configBytes), size: configBytes.length };
    let manifestBytes = opts.manifestBytes;
    if (manifestBytes === undefined) {
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size },
        layers: layerDescs,
      };
      manifestBytes = Buffer.from(JSON.stringify(manifest));
    }
    const manifestDigest = sha256Digest(manifestBytes);
    const tags = (opts.tags ?? []).map((t) => tagKey(t));
    const digestRefs = (opts.repoDigests ?? []).map((r) => digestKey(r));
    const path = this.entryPath(cfg.digest);
    const existing = await readRecordFile(path).then((s) => JSON.parse(s) as ImageEntry, () => undefined);
    const source = opts.source ?? existing?.source;
    const entry: ImageEntry | undefined = existing === undefined || existing.manifestDigest !== manifestDigest || !sameSource(existing.source, source)
      ? { id: cfg.digest, manifestDigest, added: existing?.added ?? new Date().toISOString(), ...(source !== undefined ? { source } : {}) }
      : undefined;
    // Two flushes of the file system (each a journal commit and a device flush, the cost here)
    // instead of an fsync per file and directory: every new file is written to a temp name,
    // one sync makes them durable (with the layers they name), then all are renamed into place
    // — blobs, then the entry, then refs.json, in that order in the journal, so a crash leaves
    // a prefix of them — and a second sync makes the renames durable.
    const lock = refsChange({ ...(await this.refs.read()) }, cfg.digest, tags, digestRefs) ? await this.refs.hold() : undefined;
    const temps: string[] = [];
    try {
      const publish: (() => void)[] = [];
      for (const bytes of [configBytes, manifestBytes]) publish.push(this.blobs.stage(bytes).publish);
      if (entry !== undefined) {
        const tmp = this.staging.path("image");
        writeFileSync(tmp, JSON.stringify(entry), { flag: "wx", mode: 0o644 });
        temps.push(tmp);
        publish.push(() => renameSync(tmp, path));
      }
      if (lock !== undefined) {
        const refs = await this.refs.read();
        if (refsChange(refs, cfg.digest, tags, digestRefs)) {
          const tmp = this.staging.path("refs");
          writeFileSync(tmp, refsText(refs), { flag: "wx", mode: 0o644 });
          temps.push(tmp);
          publish.push(() => renameSync(tmp, this.refs.path));
        }
      }
      await this.durability.syncNow();
      for (const p of publish) p();
      temps.length = 0;
      await this.durability.syncFileSystem();
    } finally {
      for (const t of temps) rmSync(t, { force: true });
      await lock?.release();
    }
    // a manifest replaced by another (a push's, with compressed layers) names nothing else:
    // left, `system check` would report it as an orphan blob; kept while a digest reference names it
    const replaced = existing !== undefined && entry !== undefined ? existing.manifestDigest : undefined;
    if (replaced !== undefined && !Object.keys(await this.refs.read()).some((k) => k.endsWith(`@${replaced}`))) await rm(this.blobs.path(replaced), { force: true });
    return this.byId(cfg.digest);
  }

  create(config: ImageConfig, opts: { tags?: string[] } = {}): Promise<ImageRecord> {
    return this.add(Buffer.from(JSON.stringify(config)), opts);
  }

  /** Synchronous underneath, as the records' reads (see readRecordFile): one stat. */
  async exists(id: Digest): Promise<boolean> {
    return existsSync(this.entryPath(id));
  }

  async byId(id: Digest, refs?: Record<string, Digest>): Promise<ImageRecord> {
    let entry: ImageEntry;
    try {
      entry = JSON.parse(await readRecordFile(this.entryPath(id))) as ImageEntry;
    } catch {
      throw new NoSuchImageError(id);
    }
    // the config and the manifest side by side (each is a verified blob read)
    const [configBytes, manifestBytes] = await Promise.all([this.blobs.read(entry.id), this.blobs.read(entry.manifestDigest)]);
    const config = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
    const manifest = JSON.parse(manifestBytes.toString("utf8")) as ImageManifest;
    // the layer records (and refs) side by side: one thread-pool round trip instead of one per layer
    const diffIds = config.rootfs?.diff_ids ?? [];
    const [found, allRefs] = await Promise.all([Promise.all(diffIds.map((d) => this.layers.layer(d))), refs ?? this.refs.read()]);
    const layers = found.map((l, i) => {
      if (l === undefined) throw new StoreError(`image ${shortId(id)} is broken: layer ${diffIds[i]} is missing; run \`berth system check\``);
      return l;
    });
    // refs.json holds tags (`name:tag`) and, for images pulled from or pushed to a registry,
    // digest references (`name@sha256:…`): Docker's RepoTags and RepoDigests
    const mine = Object.entries(allRefs).filter(([, v]) => v === id).map(([k]) => k);
    const repoTags = mine.filter((k) => !k.includes("@")).map((k) => familiarString(parseReference(k))).sort();
    const repoDigests = mine.filter((k) => k.includes("@")).map((k) => familiarString(parseReference(k))).sort();
    return {
      id, manifestDigest: entry.manifestDigest, config, manifest, repoTags, repoDigests, layers, added: entry.added, size: layers.reduce((a, l) => a + l.contentSize, 0),
      ...(entry.source !== undefined ? { source: entry.source } : {}),
    };
  }

  /**
   * Records the Dockerfile lines behind an image that exists already (a rebuild from the cache
   * whose lines moved); a no-op when the record says the same.
   */
  async recordSource(id: Digest, source: ImageSource): Promise<void> {
    const path = this.entryPath(id);
    const entry = JSON.parse(await readRecordFile(path)) as ImageEntry;
    if (sameSource(entry.source, source)) return;
    await writeFileAtomic(path, JSON.stringify({ ...entry, source }));
  }

  async listIds(): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const f of await readdir(this.dir)) {
      const d = `sha256:${f.replace(/\.json$/, "")}`;
      if (f.endsWith(".json") && isDigest(d)) out.push(d);
    }
    return out;
  }

  async list(): Promise<ImageRecord[]> {
    const refs = await this.refs.read();
    const out: ImageRecord[] = [];
    for (const id of await this.listIds()) out.push(await this.byId(id, refs));
    return out;
  }

  /**
   * `name[:tag]`, `name@sha256:…`, a full ID (`sha256:…` or 64 hex) or a unique ID prefix, as
   * Docker resolves them: a name that is tagged wins over an ID prefix that looks the same.
   */
  async resolve(refOrId: string): Promise<ImageRecord> {
    return this.byId(await this.resolveId(refOrId));
  }

  async resolveId(refOrId: string): Promise<Digest> {
    if (isDigest(refOrId)) {
      if (await this.exists(refOrId)) return refOrId;
      throw new NoSuchImageError(refOrId);
    }
    const refs = await this.refs.read();
    let parsed;
    try {
      parsed = parseReference(refOrId);
    } catch (err) {
      if (!(err instanceof InvalidReferenceError) || !looksLikeImageId(refOrId)) {
        throw new StoreError(err instanceof Error ? err.message : String(err), { exitCode: 125 });
      }
    }
    if (parsed !== undefined) {
      if (parsed.digest !== undefined) {
        const byRef = refs[formatReference({ ...parsed, tag: undefined })];
        if (byRef !== undefined) return byRef;
        for (const id of await this.listIds()) {
          if (id === parsed.digest) return id;
          const e = JSON.parse(await readFile(this.entryPath(id), "utf8")) as ImageEntry;
          if (e.manifestDigest === parsed.digest) return id;
        }
      } else {
        const key = formatReference({ ...parsed, tag: parsed.tag ?? DEFAULT_TAG });
        const id = refs[key];
        if (id !== undefined) return id;
      }
    }
    if (looksLikeImageId(refOrId)) {
      const prefix = refOrId.replace(/^sha256:/, "");
      const matches = (await this.listIds()).filter((id) => digestHex(id).startsWith(prefix));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new StoreError(`image ID prefix ${JSON.stringify(refOrId)} is ambiguous: it matches ${matches.length} images`);
    }
    throw new NoSuchImageError(refOrId);
  }

  /** Removes an image record (not its tags, not its layers: see gc.ts). */
  async removeEntry(id: Digest): Promise<void> {
    await rm(this.entryPath(id), { force: true });
  }
}

import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { mkdir, readFile, readdir, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { digestHex, type Digest } from "../image/digest.js";
import { readRecordFile, replaceFile } from "./atomic.js";
import type { Durability } from "./durability.js";
import type { CacheEntry } from "./types.js";

/** A build-cache record as listed: `written` (ISO 8601) is when it was last put, `bytes` its record's size. */
export interface ListedCacheEntry {
  file: string;
  key: string;
  entry: CacheEntry;
  written?: string;
  bytes?: number;
}

/**
 * The builder's part of the store:
 *
 *   cache/<hex>.json                 build cache entries (key hashed)
 *   buildcache/placed/<hex>.json     what a COPY layer placed, by diff_id (a hint, see putPlaced)
 *   buildcache/stat-<hex>.json       context stat caches, one per context directory
 *   buildcache/mounts/               RUN --mount=type=cache directories (the builder's own)
 */
export class BuildCache {
  readonly dir: string;
  private readonly builderDir: string;

  constructor(root: string, private readonly durability: Durability) {
    this.dir = join(root, "cache");
    this.builderDir = join(root, "buildcache");
  }

  private path(key: string): string {
    return join(this.dir, `${createHash("sha256").update(key).digest("hex")}.json`);
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    try {
      const rec = JSON.parse(await readRecordFile(this.path(key))) as { key: string; entry: CacheEntry };
      return rec.key === key ? rec.entry : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Writes a build cache entry once the layers it names are durable. The entry itself is not
   * fsync'd: a crash may lose it or leave it empty, and get takes an unreadable entry for a
   * miss — a lost hit, never a hit on a missing layer.
   */
  async put(key: string, entry: CacheEntry): Promise<void> {
    await this.durability.layersDurable(entry.layers);
    await replaceFile(this.path(key), JSON.stringify({ key, entry, written: new Date().toISOString() }));
  }

  /** Every build-cache record; an unreadable one has key "" and no layers. */
  async list(): Promise<ListedCacheEntry[]> {
    const out: ListedCacheEntry[] = [];
    for (const f of await readdir(this.dir)) {
      if (!f.endsWith(".json") || f.startsWith(".")) continue;
      try {
        const text = await readFile(join(this.dir, f), "utf8");
        const rec = JSON.parse(text) as { key: string; entry: CacheEntry; written?: string };
        out.push({ file: f, key: rec.key, entry: rec.entry, ...(rec.written !== undefined ? { written: rec.written } : {}), bytes: Buffer.byteLength(text) });
      } catch {
        out.push({ file: f, key: "", entry: { layers: [] } });
      }
    }
    return out;
  }

  async remove(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  /** Removes a listed record by its file (an unreadable one has no key). */
  async removeListed(c: ListedCacheEntry): Promise<void> {
    await rm(join(this.dir, c.file), { force: true });
  }

  private placedPath(diffId: Digest): string {
    return join(this.builderDir, "placed", `${digestHex(diffId)}.json`);
  }

  /**
   * Keeps what a COPY layer placed (the builder's text: a hint for the next build of the step
   * to link unchanged files from; see build/copy/writer.ts ReuseSource). Written without fsync;
   * removed with the layer.
   */
  async putPlaced(diffId: Digest, text: string): Promise<void> {
    const path = this.placedPath(diffId);
    await mkdir(dirname(path), { recursive: true });
    await replaceFile(path, text);
  }

  /** putPlaced's text, or undefined when there is none. */
  placed(diffId: Digest): Promise<string | undefined> {
    return readFile(this.placedPath(diffId), "utf8").catch(() => undefined);
  }

  forgetPlaced(diffId: Digest): Promise<void> {
    return rm(this.placedPath(diffId), { force: true });
  }

  /** The file of the context stat cache for `contextKey` (the builder's; its dir made). */
  statCacheFile(contextKey: string): string {
    mkdirSync(this.builderDir, { recursive: true });
    return join(this.builderDir, `stat-${createHash("sha256").update(contextKey).digest("hex").slice(0, 24)}.json`);
  }

  /** The context stat caches, for prune. */
  async statCacheFiles(): Promise<{ name: string; path: string; size: number; mtimeMs: number }[]> {
    const out: { name: string; path: string; size: number; mtimeMs: number }[] = [];
    for (const name of await readdir(this.builderDir).catch(() => [] as string[])) {
      if (!/^stat-[0-9a-f]+\.json$/.test(name)) continue;
      const path = join(this.builderDir, name);
      const st = await stat(path).catch(() => undefined);
      if (st !== undefined) out.push({ name, path, size: st.size, mtimeMs: st.mtimeMs });
    }
    return out;
  }

  /** Where cache mounts live: only they (and their lock and seed files, the builder's) live there. */
  mountsDir(): string {
    return join(this.builderDir, "mounts");
  }
}

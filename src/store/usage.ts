import { readdir, lstat } from "node:fs/promises";
import { join } from "node:path";
import type { Digest } from "../image/digest.js";
import type { Store } from "./store.js";

/** What `system df` shows: sizes count each layer once, however many images share it. */
export interface DiskUsage {
  images: { total: number; active: number; size: number; reclaimable: number };
  containers: { total: number; active: number; size: number; reclaimable: number };
  cache: { total: number; size: number };
}

/** The bytes of the files under `dir` (a missing one has none). */
export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else total += (await lstat(p).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(dir);
  return total;
}

export async function diskUsage(store: Store): Promise<DiskUsage> {
  const images = await store.images.list();
  const inUse = await store.containers.imagesInUse();
  const layerSize = new Map<Digest, number>();
  const activeLayers = new Set<Digest>();
  for (const img of images) {
    for (const l of img.layers) {
      layerSize.set(l.diffId, l.contentSize);
      if (inUse.has(img.id)) activeLayers.add(l.diffId);
    }
  }
  const size = [...layerSize.values()].reduce((a, b) => a + b, 0);
  const active = [...activeLayers].reduce((a, d) => a + (layerSize.get(d) ?? 0), 0);
  const cache = await store.buildCache.list();
  const cacheOnly = new Set<Digest>();
  for (const c of cache) for (const d of c.entry.layers ?? []) if (!layerSize.has(d)) cacheOnly.add(d);
  let cacheSize = 0;
  for (const d of cacheOnly) cacheSize += (await store.layers.layer(d))?.contentSize ?? 0;
  const containerIds = await store.containers.listIds();
  let containerSize = 0;
  for (const id of containerIds) containerSize += await dirSize(store.containers.path(id));
  return {
    images: { total: images.length, active: images.filter((i) => inUse.has(i.id)).length, size, reclaimable: size - active },
    containers: { total: containerIds.length, active: 0, size: containerSize, reclaimable: containerSize },
    cache: { total: cache.length, size: cacheSize },
  };
}

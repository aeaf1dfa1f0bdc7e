import type { RuntimeContext } from "./context.js";
import { readdir, stat } from "node:fs/promises";

export async function isEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch {
    return true;
  }
}

export async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() === true;
}

/**
 * `volume prune`: the volumes no container (running or not) uses, anonymous ones only unless
 * `all` (Docker 23's default); their names and the bytes they held.
 */
export async function pruneVolumes(ctx: RuntimeContext, options: { all?: boolean } = {}): Promise<{ removed: string[]; bytes: number }> {
  const { listContainers } = await import("./lookup.js");
  const { dirSize } = await import("../../store/usage.js");
  const used = new Set((await listContainers(ctx)).flatMap((c) => (c.record.hostConfig?.volumes ?? []).map((v) => v.name)));
  const removed: string[] = [];
  let bytes = 0;
  for (const v of await ctx.store.listVolumes()) {
    if (used.has(v.Name) || (!v.Anonymous && options.all !== true)) continue;
    bytes += await dirSize(v.Mountpoint);
    await ctx.store.removeVolume(v.Name);
    removed.push(v.Name);
  }
  return { removed, bytes };
}

import { randomBytes } from "node:crypto";
import type { RuntimeContext } from "./context.js";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { RuntimeError } from "../errors.js";
import { writeFileAtomic } from "./record.js";

/** A named volume: a directory berth manages, mounted into containers with `-v name:/path`. */
export interface VolumeInfo {
  Name: string;
  Driver: "local";
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: "local";
  /** created for an image VOLUME without a name: removed by `rm -v` */
  Anonymous: boolean;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function isVolumeName(s: string): boolean {
  return NAME.test(s);
}

/** Volumes live beside the store's own data, in `<root>/volumes/<name>/_data` as Docker lays them out. */
function volumesDir(storeRoot: string): string {
  return join(storeRoot, "volumes");
}

export async function createVolume(storeRoot: string, name?: string, options: { labels?: Record<string, string>; anonymous?: boolean } = {}): Promise<VolumeInfo> {
  const volName = name ?? randomBytes(32).toString("hex");
  if (!NAME.test(volName)) throw new RuntimeError(`invalid volume name "${volName}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  const dir = join(volumesDir(storeRoot), volName);
  const existing = await inspectVolume(storeRoot, volName).catch(() => undefined);
  if (existing !== undefined) return existing; // Docker: creating an existing volume is a no-op
  await mkdir(join(dir, "_data"), { recursive: true, mode: 0o755 });
  const info: VolumeInfo = {
    Name: volName,
    Driver: "local",
    Mountpoint: join(dir, "_data"),
    CreatedAt: new Date().toISOString(),
    Labels: options.labels ?? {},
    Scope: "local",
    Anonymous: options.anonymous === true,
  };
  await writeFileAtomic(join(dir, "volume.json"), JSON.stringify(info));
  return info;
}

export async function inspectVolume(storeRoot: string, name: string): Promise<VolumeInfo> {
  try {
    return JSON.parse(await readFile(join(volumesDir(storeRoot), name, "volume.json"), "utf8")) as VolumeInfo;
  } catch {
    throw new RuntimeError(`no such volume: ${name}`);
  }
}

export async function listVolumes(storeRoot: string): Promise<VolumeInfo[]> {
  const names = await readdir(volumesDir(storeRoot)).catch(() => [] as string[]);
  const out: VolumeInfo[] = [];
  for (const n of names.sort()) {
    const v = await inspectVolume(storeRoot, n).catch(() => undefined);
    if (v !== undefined) out.push(v);
  }
  return out;
}

/** Remove a volume; `inUseBy` lists the containers using it (Docker refuses then, unless forced). */
export async function removeVolume(storeRoot: string, name: string, inUseBy: string[] = []): Promise<void> {
  await inspectVolume(storeRoot, name);
  if (inUseBy.length > 0) throw new RuntimeError(`remove ${name}: volume is in use - [${inUseBy.join(", ")}]`);
  await rm(join(volumesDir(storeRoot), name), { recursive: true, force: true });
}

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
  for (const v of await listVolumes(ctx.store.root)) {
    if (used.has(v.Name) || (!v.Anonymous && options.all !== true)) continue;
    bytes += await dirSize(v.Mountpoint);
    await removeVolume(ctx.store.root, v.Name);
    removed.push(v.Name);
  }
  return { removed, bytes };
}

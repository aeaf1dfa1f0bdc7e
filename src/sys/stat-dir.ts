import { readdirSync } from "node:fs";
import { berthNative, STAT_DIR_FIELDS } from "./addon.js";
import { lstatBuild } from "./lstat.js";

type Build<T> = (dev: number, mode: number, nlink: number, uid: number, gid: number, rdev: number, ino: number, size: number, mtimeMs: number, ctimeMs: number) => T;

/** A directory's entry names, and each entry's lstat made into the caller's object (undefined: removed meanwhile). */
export interface DirListing<T> {
  names: string[];
  stat(i: number): T | undefined;
}

function fromFields<T>([names, f]: [string[], Float64Array], build: Build<T>): DirListing<T> {
  return {
    names,
    stat: (i) => {
      const o = i * STAT_DIR_FIELDS;
      return f[o + 1] === 0 ? undefined : build(f[o]!, f[o + 1]!, f[o + 2]!, f[o + 3]!, f[o + 4]!, f[o + 5]!, f[o + 6]!, f[o + 7]!, f[o + 8]!, f[o + 9]!);
    },
  };
}

/**
 * A directory listed and its entries lstat'ed: the addon in one call (readdir, then fstatat
 * per entry: one path component each), else readdir and an lstat per entry asked for.
 */
export function listDirSync<T>(path: string, build: Build<T>): DirListing<T> {
  const native = berthNative();
  if (native !== null) return fromFields(native.statDir(path), build);
  const names = readdirSync(path);
  return { names, stat: (i) => lstatBuild(`${path}/${names[i]}`, build) };
}

/** listDirSync on libuv's thread pool (directories listed side by side); the fallback is listDirSync. */
export async function listDir<T>(path: string, build: Build<T>): Promise<DirListing<T>> {
  const native = berthNative();
  if (native !== null) return fromFields(await native.statDirAsync(path), build);
  return listDirSync(path, build);
}

import { readFile } from "node:fs/promises";
import { LayeredSourceFs, resolveInTree } from "../../context/index.js";
import { CopyError } from "./errors.js";

export interface Owner {
  uid: number;
  gid: number;
}

/** Reads a file of the parent rootfs (e.g. "/etc/passwd"); undefined when it does not exist. */
export type RootfsFileReader = (absPath: string) => Promise<string | undefined>;

function lookup(text: string | undefined, name: string): number | undefined {
  return lookupEntry(text, name)?.[0];
}

/** A passwd/group entry's numeric fields (the id, and for passwd the primary group). */
function lookupEntry(text: string | undefined, name: string): [number, number | undefined] | undefined {
  if (text === undefined) return undefined;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f[0] === name && f.length >= 3) {
      const id = Number(f[2]);
      const second = f.length >= 4 && f[3] !== "" ? Number(f[3]) : undefined;
      if (Number.isInteger(id) && id >= 0) return [id, second !== undefined && Number.isInteger(second) && second >= 0 ? second : undefined];
    }
  }
  return undefined;
}

const NUMERIC = /^[0-9]+$/;

function parseId(s: string, what: string, spec: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n > 0xffffffff) throw new CopyError(`invalid ${what} in --chown=${spec}`);
  return n;
}

/**
 * `--chown=user[:group]` → numeric owner. Names are looked up in the image's /etc/passwd and
 * /etc/group (read through `readFile`); numbers are taken as they are. Without a group, the
 * Dockerfile reference says the UID is used as the GID too ("a username without groupname or a
 * UID without GID will use the same numeric UID as the GID").
 */
export async function resolveChown(spec: string, readFile: RootfsFileReader): Promise<Owner> {
  if (spec === "") throw new CopyError("empty --chown value");
  const colon = spec.indexOf(":");
  const user = colon < 0 ? spec : spec.slice(0, colon);
  const group = colon < 0 ? undefined : spec.slice(colon + 1);
  if (user === "" || group === "") throw new CopyError(`invalid --chown=${spec}: want user[:group]`);
  let uid: number;
  // BuildKit: a named user's primary group from /etc/passwd when no group is given; a numeric one's gid is its uid
  let primaryGid: number | undefined;
  if (NUMERIC.test(user)) uid = parseId(user, "user id", spec);
  else {
    const found = lookupEntry(await readFile("/etc/passwd"), user);
    if (found === undefined) throw new CopyError(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${user}: no such user: ${user}`);
    [uid, primaryGid] = found;
  }
  let gid = primaryGid ?? uid;
  if (group !== undefined) {
    if (NUMERIC.test(group)) gid = parseId(group, "group id", spec);
    else {
      const found = lookup(await readFile("/etc/group"), group);
      if (found === undefined) throw new CopyError(`unable to convert uid/gid chown string to host mapping: can't find gid for group ${group}: no such group: ${group}`);
      gid = found;
    }
  }
  return { uid, gid };
}

/**
 * A RootfsFileReader over a parent image's layer dirs (top first), for resolveChown: reads
 * /etc/passwd and /etc/group through whiteouts and symlinks without mounting anything.
 */
export function layeredFileReader(layerDirs: readonly string[], isOpaque?: (absDir: string) => boolean): RootfsFileReader {
  const fs = new LayeredSourceFs(layerDirs, "parent image", isOpaque);
  return async (absPath) => {
    try {
      const rel = resolveInTree(fs, absPath.replace(/^\/+/, ""));
      const st = fs.lstat(rel);
      if (!st || st.type !== "file") return undefined;
      return await readFile(fs.hostPath(rel), "utf8");
    } catch {
      return undefined;
    }
  };
}

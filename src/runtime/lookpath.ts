import { lstatSync, readlinkSync, statSync, type Stats } from "node:fs";
import { join, posix } from "node:path";
import { RuntimeError } from "./errors.js";

/**
 * A container's root file system as berth can read it before it is mounted: a directory, or
 * overlay layers (top first: the upper dir, then the lower dirs) merged the way overlayfs
 * merges them — the topmost entry wins, a whiteout (char device 0:0) hides a path, and
 * directories merge with the same directory below. (Opaque directories are not honoured:
 * their xattr costs a process to read; this view only serves pre-start checks.)
 */
export type RootfsView = string | readonly string[];

// Synchronous file system calls: a pre-start lookup is a few dozen lstat calls on small
// directories, and each async call is a round trip through libuv's thread pool: a `berth run`
// spent a measurable part of its start here. The functions stay async for callers.
function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** The host path and lstat of one path in the view, or undefined if it does not exist. */
function lookupEntry(layers: readonly string[], parts: readonly string[]): { host: string; isDir: boolean; isLink: boolean } | undefined {
  let candidates = layers;
  for (let i = 0; i < parts.length; i++) {
    const rel = parts.slice(0, i + 1).join("/");
    const below: string[] = [];
    let found: { host: string; isDir: boolean; isLink: boolean } | undefined;
    for (const layer of candidates) {
      const st = lstatOrUndefined(join(layer, rel));
      if (st === undefined) continue;
      if (found === undefined) {
        if (st.isCharacterDevice() && st.rdev === 0) return undefined; // whiteout
        found = { host: join(layer, rel), isDir: st.isDirectory(), isLink: st.isSymbolicLink() };
        if (!found.isDir) break;
        below.push(layer);
      } else if (st.isDirectory()) below.push(layer);
      else break; // a non-directory below ends the merge
    }
    if (found === undefined) return undefined;
    if (i === parts.length - 1) return found;
    if (!found.isDir) return found.isLink ? found : undefined;
    candidates = below;
  }
  return { host: layers[0] as string, isDir: true, isLink: false };
}

/**
 * Resolve `path` (absolute inside the container) to a host path, following symlinks as the
 * container would see them: an absolute target restarts at the root, `..` never climbs above
 * it. Returns undefined when a component is missing.
 */
export async function resolveInRootfs(rootfs: RootfsView, path: string): Promise<string | undefined> {
  const layers = typeof rootfs === "string" ? [rootfs] : rootfs;
  const pending = posix.normalize(path).split("/").filter((c) => c !== "" && c !== ".");
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const entry = lookupEntry(layers, [...resolved, part]);
    if (entry === undefined) return undefined;
    if (entry.isLink) {
      if (++links > 40) return undefined;
      const target = readlinkSync(entry.host);
      if (target.startsWith("/")) resolved.length = 0;
      pending.unshift(...target.split("/").filter((c) => c !== "" && c !== "."));
      continue;
    }
    resolved.push(part);
  }
  if (resolved.length === 0) return layers[0];
  return lookupEntry(layers, resolved)?.host;
}

function pathOf(env: readonly string[]): string[] {
  const entry = env.find((e) => e.startsWith("PATH="));
  return (entry === undefined ? "" : entry.slice(5)).split(":").filter((d) => d !== "");
}

/**
 * Check, before runc is started, that the container's command exists and is executable,
 * so berth fails the way `docker run` does: 127 when not found, 126 when not executable.
 * A bare name is searched in the container's PATH (relative to `cwd` when it has a slash).
 */
export async function checkExecutable(rootfs: RootfsView, command: string, env: readonly string[], cwd = "/"): Promise<void> {
  const candidates = command.includes("/")
    ? [command.startsWith("/") ? command : posix.join(cwd, command)]
    : pathOf(env).map((dir) => posix.join(dir.startsWith("/") ? dir : posix.join(cwd, dir), command));
  let sawNonExecutable = false;
  for (const candidate of candidates) {
    const host = await resolveInRootfs(rootfs, candidate);
    if (host === undefined) continue;
    let st: Stats | undefined;
    try {
      st = statSync(host);
    } catch {
      st = undefined;
    }
    if (st === undefined) continue;
    if (st.isFile() && (st.mode & 0o111) !== 0) return;
    sawNonExecutable = true;
    if (command.includes("/")) break;
  }
  if (sawNonExecutable) {
    throw new RuntimeError(`exec: "${command}": permission denied`, { exitCode: 126 });
  }
  const where = command.includes("/") ? "no such file or directory" : "executable file not found in $PATH";
  throw new RuntimeError(`exec: "${command}": ${where}`, { exitCode: 127 });
}

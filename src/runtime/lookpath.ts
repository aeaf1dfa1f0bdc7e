import { lstat, readlink, stat } from "node:fs/promises";
import { posix } from "node:path";
import { RuntimeError } from "./errors.js";

/**
 * Resolve `path` (absolute inside the container) to a host path under `rootfs`, following
 * symlinks as the container would see them: an absolute link target restarts at the rootfs,
 * `..` never climbs above it. Returns undefined when a component is missing.
 */
export async function resolveInRootfs(rootfs: string, path: string): Promise<string | undefined> {
  const pending = posix.normalize(path).split("/").filter((c) => c !== "" && c !== ".");
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const host = posix.join(rootfs, ...resolved, part);
    let st;
    try {
      st = await lstat(host);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++links > 40) return undefined;
      const target = await readlink(host);
      if (target.startsWith("/")) resolved.length = 0;
      pending.unshift(...target.split("/").filter((c) => c !== "" && c !== "."));
      continue;
    }
    resolved.push(part);
  }
  return posix.join(rootfs, ...resolved);
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
export async function checkExecutable(rootfs: string, command: string, env: readonly string[], cwd = "/"): Promise<void> {
  const candidates = command.includes("/")
    ? [command.startsWith("/") ? command : posix.join(cwd, command)]
    : pathOf(env).map((dir) => posix.join(dir.startsWith("/") ? dir : posix.join(cwd, dir), command));
  let sawNonExecutable = false;
  for (const candidate of candidates) {
    const host = await resolveInRootfs(rootfs, candidate);
    if (host === undefined) continue;
    const st = await stat(host).catch(() => undefined);
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

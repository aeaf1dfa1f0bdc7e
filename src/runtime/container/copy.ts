import { spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { basename, join, posix } from "node:path";
import { RuntimeError } from "../errors.js";
import { resolveInRootfs } from "../lookpath.js";
import { isMounted, mountOverlay, unmountOverlay } from "../overlay.js";
import { ROOTFS, type RuntimeContext } from "./context.js";
import { findContainer } from "./lookup.js";

function cpA(src: string, dest: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("cp", ["-a", "--", src, dest], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.once("error", reject);
    child.once("close", (code) => (code === 0 ? resolve() : reject(new RuntimeError(`copy failed: ${err.trim()}`))));
  });
}

/**
 * `berth cp`: copy between a container (running or not) and the host. A container path is
 * resolved inside its rootfs (symlinks cannot escape it). Docker's rules: a directory source
 * ending in `/.` copies its content; a destination that is a directory receives the source
 * by its name.
 */
export async function copyFiles(ctx: RuntimeContext, src: string, dest: string): Promise<void> {
  const split = (s: string) => {
    const colon = s.indexOf(":");
    return colon > 0 && !s.startsWith("/") && !s.startsWith(".") ? { container: s.slice(0, colon), path: s.slice(colon + 1) } : undefined;
  };
  const from = split(src);
  const to = split(dest);
  if ((from === undefined) === (to === undefined)) throw new RuntimeError("copying between containers or between host paths is not supported: name one side as CONTAINER:PATH");
  const side = (from ?? to) as { container: string; path: string };
  const { dir, record } = await findContainer(ctx, side.container);
  // a running container's root is visible through its init's /proc entry (the mount lives in
  // its own namespace); a stopped one is mounted here for the copy
  let rootfs = join(dir, ROOTFS);
  let mountedHere = false;
  const pid = record.state === "running" ? (record.pid?.pid ?? (await ctx.runc.state(record.id))?.pid) : undefined;
  if (pid !== undefined && pid > 0) rootfs = `/proc/${pid}/root`;
  else if (!isMounted(rootfs)) {
    await mountOverlay(record.snapshot, rootfs);
    mountedHere = true;
  }
  try {
    const ctrPath = posix.isAbsolute(side.path) ? side.path : posix.join(record.config.cwd, side.path);
    if (from !== undefined) {
      const contentOnly = side.path.endsWith("/.");
      const host = await resolveInRootfs(rootfs, ctrPath);
      if (host === undefined) throw new RuntimeError(`Could not find the file ${side.path} in container ${side.container}`);
      await cpA(contentOnly ? `${host}/.` : host, dest);
    } else {
      const destIsDir = (await stat(await resolveInRootfs(rootfs, ctrPath) ?? "/nonexistent").catch(() => undefined))?.isDirectory() === true;
      const parent = await resolveInRootfs(rootfs, destIsDir ? ctrPath : posix.dirname(ctrPath));
      if (parent === undefined) throw new RuntimeError(`Could not find the file ${posix.dirname(ctrPath)} in container ${side.container}`);
      const target = destIsDir ? parent : join(parent, basename(ctrPath));
      await stat(src).catch(() => {
        throw new RuntimeError(`could not find the file ${src} on the host`);
      });
      await cpA(src, target);
    }
  } finally {
    if (mountedHere) await unmountOverlay(rootfs);
  }
}

import { mkdir, rm } from "node:fs/promises";
import { join, posix } from "node:path";
import type { LayeredSourceFs } from "../context/index.js";
import type { WorkdirInstruction } from "../instructions/index.js";
import { HISTORY_COMMENT } from "./history.js";
import type { KeyInputs } from "./keys.js";
import type { BuildSession, Step } from "./session.js";
import { containerConfig } from "./stage-state.js";

/**
 * WORKDIR: the image's working directory, and a layer that makes it (owned by the stage's
 * USER, as BuildKit) when the parent rootfs lacks it.
 */
export async function dispatchWorkdir(b: BuildSession, s: Step<WorkdirInstruction>): Promise<void> {
  const { node, state, expand, fail } = s;
  const path = expand(node.path.raw);
  if (path === "") throw fail("WORKDIR requires exactly one argument");
  const cfg = containerConfig(state);
  const wd = posix.resolve(cfg.WorkingDir || "/", path);
  cfg.WorkingDir = wd;
  if (wd === "/") {
    state.newHistory.push({ entry: { created_by: `WORKDIR ${wd}`, comment: HISTORY_COMMENT, empty_layer: true } });
    return;
  }
  const user = cfg.User ?? "";
  const epoch = b.epoch;
  const inputs: KeyInputs = { parent: state.key, instruction: `WORKDIR ${wd} user=${user} epoch=${epoch ?? ""}`, env: [] };
  const view = b.resources.parentView(state);
  await b.cache.layerStep(s, s.show(), inputs, `WORKDIR ${wd}`, async (snap) => {
    // symlinks on the way are followed inside the root, as BuildKit's mkdir -p does: a WORKDIR
    // through a link makes (or finds) its target, never a directory in the link's place
    const { resolveInTree } = await import("../context/index.js");
    const rel = resolveInTree(view, wd.slice(1));
    if (rel === "" || view.lstat(rel)?.type === "dir") return;
    let uid = 0;
    let gid = 0;
    if (user !== "") {
      const { resolveUser } = await import("../runtime/user.js");
      const r = await withParentAccounts(view, (root) => resolveUser(root, user)).catch(() => undefined);
      if (r !== undefined) ({ uid, gid } = r);
    }
    // mkdir -p with BuildKit's owner and time for every directory it creates.
    const parts = rel.split("/");
    const { chmod, chown, utimes, lstat } = await import("node:fs/promises");
    const made: { host: string; t: number }[] = [];
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join("/");
      const host = join(snap.upperDir, sub);
      if ((await lstat(host).catch(() => undefined)) !== undefined) continue;
      const below = view.lstat(sub);
      if (below?.type === "dir") {
        // An existing parent is copied up with its metadata, as overlayfs would.
        await mkdir(host, { mode: below.mode & 0o7777 });
        await chmod(host, below.mode & 0o7777);
        await chown(host, below.uid, below.gid);
        made.push({ host, t: below.mtimeMs / 1000 });
        continue;
      }
      await mkdir(host, { mode: 0o755 });
      await chown(host, uid, gid);
      made.push({ host, t: epoch ?? Date.now() / 1000 });
    }
    // Times last, deepest first: creating a child would bump its parent's mtime.
    for (const m of made.reverse()) await utimes(m.host, m.t, m.t);
  }, undefined, true);
  // The history text is `WORKDIR /app` whether or not a layer came out of it.
}

/**
 * resolveUser reads <root>/etc/passwd and <root>/etc/group: give it a scratch root holding the
 * parent rootfs's two files, read through its layers (no overlay mount needed).
 */
async function withParentAccounts<T>(view: LayeredSourceFs, fn: (root: string) => Promise<T>): Promise<T> {
  const { copyFile, mkdtemp } = await import("node:fs/promises");
  const tmp = await mkdtemp("/tmp/berth-accounts-");
  try {
    await mkdir(join(tmp, "etc"));
    for (const f of ["etc/passwd", "etc/group"]) {
      let rel = f;
      let st = view.lstat(rel);
      if (st?.type === "symlink") {
        const { resolveInTree } = await import("../context/index.js");
        rel = resolveInTree(view, rel);
        st = view.lstat(rel);
      }
      if (st?.type === "file") await copyFile(view.hostPath(rel), join(tmp, f));
    }
    return await fn(tmp);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

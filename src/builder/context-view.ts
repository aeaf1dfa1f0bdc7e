import { chownSync, chmodSync, existsSync, lstatSync, mkdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import type { BuildContext } from "../context/index.js";
import { mknodBatch } from "../sys/mknod.js";

/**
 * What `RUN --mount=type=bind` (from the build context) mounts: BuildKit mounts the context as
 * it was sent, after .dockerignore. When nothing is excluded that is the context directory
 * itself, bound as is. Otherwise berth makes, once per build, a layer of whiteouts (char
 * devices 0:0, overlayfs' mark for "absent") for the excluded entries, with the directories
 * that hold them (their owners, modes and times copied: overlayfs shows a merged directory's
 * attributes from the topmost layer), and each such RUN gets an overlay of that layer over
 * the context, mounted by runc in the container's namespace: no copy of the context, nothing
 * mounted on the host, and a step costs one mount(2) as a bind does.
 */
export interface ContextView {
  /** the context directory (the overlay's lower layer, or the bind source) */
  root: string;
  /** the whiteout layer, or undefined when nothing is excluded (then bind `root`) */
  whiteouts: string | undefined;
  /** the context's index (what is visible: `lstat(rel)` undefined for an excluded path) */
  context: BuildContext;
}

/** Makes the view's whiteout layer in `dir` (inside the build's state dir) when something is excluded. */
export async function makeContextView(context: BuildContext, dir: string): Promise<ContextView> {
  const excluded = context.excludedNames();
  if (excluded.size === 0) return { root: context.root, whiteouts: undefined, context };
  mkdirSync(dir, { recursive: true });
  const dirs = new Set<string>([""]);
  for (const rel of excluded.keys()) {
    const parts = rel === "" ? [] : rel.split("/");
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  const ordered = [...dirs].sort((a, b) => a.length - b.length);
  for (const rel of ordered) if (rel !== "") mkdirSync(join(dir, rel), { recursive: true });
  const nodes = [];
  for (const [rel, names] of excluded) {
    for (const name of names) {
      const path = join(dir, rel, name);
      if (!existsSync(path)) nodes.push({ path, type: "c" as const, major: 0, minor: 0, mode: 0, uid: 0, gid: 0, mtime: 0 });
    }
  }
  await mknodBatch(nodes, { chown: false });

  // deepest first: setting a directory's times after its children were made
  for (const rel of ordered.reverse()) {
    const st = context.lstat(rel) ?? statOf(join(context.root, rel));
    const path = join(dir, rel);
    chownSync(path, st.uid, st.gid);
    chmodSync(path, st.mode & 0o7777);
    utimesSync(path, st.mtimeMs / 1000, st.mtimeMs / 1000);
  }
  return { root: context.root, whiteouts: dir, context };
}

function statOf(path: string): { uid: number; gid: number; mode: number; mtimeMs: number } {
  return lstatSync(path);
}

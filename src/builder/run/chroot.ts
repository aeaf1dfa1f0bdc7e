import { chmodSync, constants, copyFileSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, type BigIntStats } from "node:fs";
import { dirname, join } from "node:path";
import { mknodBatch, type NodeSpec } from "../../sys/mknod.js";
import { setXattrsBatch } from "../../sys/xattr.js";
import { overlayOpaqueXattr } from "../../sys/overlay-xattr.js";
import type { LayerInfo, Snapshot } from "../../store/index.js";
import type { BuilderStore } from "../store-port.js";
import { runProgram } from "../../runtime/exec-file.js";

/**
 * The roots of `berth build --isolation chroot`: where mounts are not allowed (a container
 * without CAP_SYS_ADMIN), a RUN step's root cannot be an overlay of its layers. It is a plain
 * copy of them instead (Buildah's vfs driver does the same), kept between the build's RUN
 * steps: a step whose layers are a tree's plus some on top gets that tree with the new ones
 * applied (a COPY's layer, say), and after a RUN the tree holds the RUN's changes, which are
 * the layer (found by comparing the tree before and after the step: inode and change time of
 * every entry). A tree is the upper dir of a snapshot of the store, so a killed build leaves
 * nothing `system check --repair` does not remove.
 */

export interface Tree {
  snap: Snapshot;
  /**
   * The layers the tree holds, bottom first: the stage's own LayerInfo objects, which stay the
   * same while the store fills in a committed layer (or swaps its dir for an equal one's).
   */
  layers: readonly LayerInfo[];
  busy: boolean;
}

interface Copying {
  /** source inode → path written, for hard links */
  links: Map<bigint, string>;
  nodes: NodeSpec[];
  /** directories whose times are set last (their entries change them), parents first */
  dirs: [string, BigIntStats][];
}

function lst(path: string): BigIntStats | undefined {
  try {
    return lstatSync(path, { bigint: true });
  } catch {
    return undefined;
  }
}

const isWhiteout = (st: BigIntStats): boolean => st.isCharacterDevice() && st.rdev === 0n;

function setOwnerAndMode(path: string, st: BigIntStats): void {
  lchownSync(path, Number(st.uid), Number(st.gid));
  // after chown, which clears setuid bits
  if (!st.isSymbolicLink()) chmodSync(path, Number(st.mode) & 0o7777);
}

/** Writes `src`'s entry (a directory without its entries) at `dst`, with owner, mode and times; replaces what is there. */
function copyEntry(src: string, dst: string, st: BigIntStats, c: Copying): void {
  const there = lst(dst);
  if (st.isDirectory()) {
    if (there !== undefined && !there.isDirectory()) rmSync(dst, { force: true });
    if (there === undefined || !there.isDirectory()) mkdirSync(dst);
    setOwnerAndMode(dst, st);
    c.dirs.push([dst, st]);
    return;
  }
  if (there !== undefined) rmSync(dst, { recursive: true, force: true });
  const linked = st.nlink > 1n ? c.links.get(st.ino) : undefined;
  if (linked !== undefined) {
    linkSync(linked, dst);
    return;
  }
  if (st.isFile()) {
    copyFileSync(src, dst, constants.COPYFILE_FICLONE);
    setOwnerAndMode(dst, st);
  } else if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(src), dst);
    lchownSync(dst, Number(st.uid), Number(st.gid));
  } else {
    const type = st.isFIFO() ? "p" : st.isBlockDevice() ? "b" : st.isCharacterDevice() ? "c" : undefined;
    if (type === undefined) return; // a socket: nothing a layer holds
    const rdev = Number(st.rdev);
    c.nodes.push({ path: dst, type, major: (rdev >> 8) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00), mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), mtime: Number(st.mtimeMs) / 1000 });
    return;
  }
  lutimesSync(dst, Number(st.mtimeMs) / 1000, Number(st.mtimeMs) / 1000);
  if (st.nlink > 1n) c.links.set(st.ino, dst);
}

/** Device nodes, then directory times, deepest first (writing entries changed them). */
async function finish(c: Copying): Promise<void> {
  await mknodBatch(c.nodes, { chown: true });
  for (const [dir, st] of c.dirs.reverse()) lutimesSync(dir, Number(st.mtimeMs) / 1000, Number(st.mtimeMs) / 1000);
}

function newCopying(): Copying {
  return { links: new Map(), nodes: [], dirs: [] };
}

/** Applies one layer dir (overlay format: whiteouts are 0:0 devices, opaque dirs marked) onto the tree. */
function applyLayer(layer: string, tree: string, isOpaque: (absDir: string) => boolean, c: Copying): void {
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(layer, rel))) {
      const p = rel === "" ? name : `${rel}/${name}`;
      const src = join(layer, p);
      const st = lstatSync(src, { bigint: true });
      const dst = join(tree, p);
      if (isWhiteout(st)) {
        rmSync(dst, { recursive: true, force: true });
        continue;
      }
      if (st.isDirectory() && isOpaque(src)) rmSync(dst, { recursive: true, force: true });
      copyEntry(src, dst, st, c);
      if (st.isDirectory()) walk(p);
    }
  };
  copyEntry(layer, tree, lstatSync(layer, { bigint: true }), c);
  walk("");
}

/** Every entry of the tree: its inode, change time and whether it is a directory. */
export type TreeState = Map<string, { ino: bigint; ctime: bigint; dir: boolean }>;

export function treeState(tree: string): TreeState {
  const state: TreeState = new Map();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(tree, rel))) {
      const p = rel === "" ? name : `${rel}/${name}`;
      const st = lstatSync(join(tree, p), { bigint: true });
      state.set(p, { ino: st.ino, ctime: st.ctimeNs, dir: st.isDirectory() });
      if (st.isDirectory()) walk(p);
    }
  };
  walk("");
  return state;
}

/**
 * Writes what changed in the tree since `before` into `upper` as an overlay upper dir would hold
 * it: new and changed entries (a changed directory without its unchanged entries), a deleted
 * entry as a whiteout, a directory that was replaced as an opaque one with all its entries.
 */
export async function diffTree(tree: string, before: TreeState, upper: string): Promise<void> {
  const c = newCopying();
  const descended = new Set<string>([""]);
  const present = new Set<string>();
  const opaque: string[] = [];
  const ensureParents = (p: string): void => {
    const parts = p.split("/");
    for (let i = 1; i < parts.length; i++) {
      const a = parts.slice(0, i).join("/");
      if (lst(join(upper, a)) === undefined) copyEntry(join(tree, a), join(upper, a), lstatSync(join(tree, a), { bigint: true }), c);
    }
  };
  const copyAll = (p: string): void => {
    const st = lstatSync(join(tree, p), { bigint: true });
    copyEntry(join(tree, p), join(upper, p), st, c);
    if (st.isDirectory()) for (const name of readdirSync(join(tree, p))) copyAll(`${p}/${name}`);
  };
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(tree, rel))) {
      const p = rel === "" ? name : `${rel}/${name}`;
      present.add(p);
      const st = lstatSync(join(tree, p), { bigint: true });
      const was = before.get(p);
      if (was === undefined || was.ino !== st.ino || was.dir !== st.isDirectory()) {
        ensureParents(p);
        copyAll(p);
        if (was?.dir === true && st.isDirectory()) opaque.push(join(upper, p));
        continue;
      }
      if (was.ctime !== st.ctimeNs) {
        ensureParents(p);
        copyEntry(join(tree, p), join(upper, p), st, c);
      }
      if (st.isDirectory()) {
        descended.add(p);
        walk(p);
      }
    }
  };
  walk("");
  for (const p of before.keys()) {
    if (present.has(p)) continue;
    const parent = p.includes("/") ? dirname(p) : "";
    if (!descended.has(parent)) continue; // the parent went or was replaced: its own mark covers this
    ensureParents(p);
    c.nodes.push({ path: join(upper, p), type: "c", major: 0, minor: 0, mode: 0, uid: 0, gid: 0, mtime: 0 });
  }
  await finish(c);
  await setXattrsBatch(opaque.map((path) => ({ path, name: overlayOpaqueXattr(), value: Buffer.from("y") })));
}

/** The trees of one build (see above). */
export class ChrootRoots {
  private readonly trees: Tree[] = [];

  constructor(
    private readonly store: BuilderStore,
    private readonly isOpaque: (absDir: string) => boolean,
  ) {}

  /**
   * A tree holding `layers` (a stage's, bottom first): one of the build's whose layers are the
   * first of them, the others applied; else a new copy. It is the caller's until adopt or drop.
   */
  async acquire(layers: readonly LayerInfo[]): Promise<Tree> {
    const fits = (t: Tree): boolean => !t.busy && t.layers.length <= layers.length && t.layers.every((l, i) => layers[i] === l);
    let tree = this.trees.find(fits);
    if (tree === undefined) {
      tree = { snap: await this.store.prepareSnapshot([], { durable: false }), layers: [], busy: false };
      this.trees.push(tree);
    }
    tree.busy = true;
    const c = newCopying();
    const missing = layers.slice(tree.layers.length).map((l) => l.dir);
    // a new tree takes its bottom layer (mostly the base image, the bulk) from GNU cp, several
    // times faster than this process's file by file copy (a bottom layer's whiteouts hide
    // nothing); another cp (busybox's) lacks the flags: the copy below does it all
    if (tree.layers.length === 0 && missing.length > 0) {
      const copied = await runProgram("cp", ["-a", "--no-preserve=xattr", "--reflink=auto", `${missing[0]}/.`, tree.snap.upperDir]).catch(() => ({ code: 1 }));
      if (copied.code === 0) missing.shift();
      else for (const name of readdirSync(tree.snap.upperDir)) rmSync(join(tree.snap.upperDir, name), { recursive: true, force: true });
    }
    for (const dir of missing) applyLayer(dir, tree.snap.upperDir, this.isOpaque, c);
    await finish(c);
    tree.layers = layers.slice();
    return tree;
  }

  /** The step that had the tree is done: its stage's layers (the step's own on top, if it made one) are what the tree holds. */
  adopt(tree: Tree, layers: readonly LayerInfo[]): void {
    tree.layers = layers.slice();
    tree.busy = false;
  }

  /** A tree whose step failed: its content is unknown, it goes. */
  async drop(tree: Tree): Promise<void> {
    this.trees.splice(this.trees.indexOf(tree), 1);
    await this.store.removeSnapshot(tree.snap);
  }

  async close(): Promise<void> {
    const trees = this.trees.splice(0);
    await Promise.all(trees.map((t) => this.store.removeSnapshot(t.snap)));
  }
}

const rootsOf = new WeakMap<object, ChrootRoots>();

/** The build's trees, made at its first chrooted RUN. */
export function chrootRoots(build: object, store: BuilderStore, isOpaque: (absDir: string) => boolean): ChrootRoots {
  let roots = rootsOf.get(build);
  if (roots === undefined) {
    roots = new ChrootRoots(store, isOpaque);
    rootsOf.set(build, roots);
  }
  return roots;
}

/** Removes the build's trees at its end. */
export async function closeChrootRoots(build: object): Promise<void> {
  await rootsOf.get(build)?.close();
  rootsOf.delete(build);
}

/** Files a step may need that an image often lacks: the job's, put into the tree (never into a layer) where the image has none. */
const JOB_FILES = ["etc/resolv.conf", "etc/hosts"];

/** Devices a chrooted step may need (no /dev is mounted): made in the tree where missing, as root only. */
const DEVICES: [string, number, number][] = [["null", 1, 3], ["zero", 1, 5], ["full", 1, 7], ["random", 1, 8], ["urandom", 1, 9], ["tty", 5, 0]];

export interface ChrootRunOptions {
  /** The step's tree (ChrootRoots.acquire), which it changes */
  tree: Tree;
  snapshot: Snapshot;
  args: string[];
  env: string[];
  cwd: string;
  user: string | undefined;
  hostname: string;
  stdout: import("node:stream").Writable;
  stderr: import("node:stream").Writable;
  signal?: AbortSignal;
}

/**
 * A RUN step under `--isolation chroot`: the step's layers as a tree (ChrootRoots), the job's
 * resolv.conf and hosts and a few devices added where the image lacks them, the command
 * chrooted into it (runtime/chroot.ts), and its changes written to the snapshot's upper dir,
 * from which the layer is made as from an overlay's.
 */
export async function executeChrootRun(o: ChrootRunOptions): Promise<number> {
  const { runChrooted } = await import("../../runtime/chroot.js");
  const root = o.tree.snap.upperDir;
  for (const rel of JOB_FILES) {
    if (lst(join(root, rel)) === undefined && lst(join(root, "etc"))?.isDirectory() === true && lst(`/${rel}`)?.isFile() === true) copyFileSync(`/${rel}`, join(root, rel));
  }
  if ((process.geteuid?.() ?? 0) === 0) {
    mkdirSync(join(root, "dev"), { recursive: true, mode: 0o755 });
    const missing = DEVICES.filter(([name]) => lst(join(root, "dev", name)) === undefined);
    await mknodBatch(
      missing.map(([name, major, minor]) => ({ path: join(root, "dev", name), type: "c", major, minor, mode: 0o666, uid: 0, gid: 0, mtime: Date.now() / 1000 })),
      { chown: false },
    ).catch(() => undefined); // no CAP_MKNOD: the step goes without them
  }
  const before = treeState(root);
  // a missing working directory is made, and kept in the layer (BuildKit)
  mkdirSync(join(root, o.cwd), { recursive: true, mode: 0o755 });
  const code = await runChrooted({ root, args: o.args, env: o.env, cwd: o.cwd, ...(o.user !== undefined && o.user !== "" ? { user: o.user } : {}), hostname: o.hostname, stdout: o.stdout, stderr: o.stderr, ...(o.signal !== undefined ? { signal: o.signal } : {}) });
  if (code === 0) await diffTree(root, before, o.snapshot.upperDir);
  return code;
}

import { randomBytes } from "node:crypto";
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, writeFileSync, type Stats } from "node:fs";
import { overlayOpaque, type LayeredSourceFs } from "../../context/tree-source.js";
import { resolveChrooted } from "../../context/source-fs.js";
import { cleanPath } from "../../context/path-match.js";
import type { SourceFs } from "../../context/index.js";
import type { CacheMountPlan } from "../cache-mount.js";
import type { ContextView } from "../context-view.js";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { MountSpecError, type CacheMount, type Mount } from "../../instructions/index.js";
import type { RunCommand } from "./command.js";
import type { MountRequest } from "../../runtime/spec.js";
import { runTransient } from "../../runtime/transient.js";
import type { Snapshot } from "../../store/index.js";
import type { SecretSpec, SshSpec } from "../options.js";
import type { RunNetwork } from "../sandbox.js";
import { BUILD_HOSTNAME } from "../../runtime/network/etc-files.js";


export interface MountSources {
  /** The build context as bind mounts without from= see it: after .dockerignore (see context-view.ts). */
  contextView(): Promise<ContextView>;
  /** The build's dir on a tmpfs, for secrets (memory-dir.ts); undefined when the machine has none. */
  memoryDir(): string | undefined;
  /** The layers of a stage or image named by from=, read as one tree. */
  fromLayers(from: string): Promise<LayeredSourceFs>;
  /**
   * The directory of the store that holds only cache mounts (one per key, see cacheMountDir):
   * leaseCacheDir puts a key's extra instances and lock files beside it.
   */
  cacheMountsDir: string;
  /** A cache mount's from=: its identity (part of the cache's key) and its tree, to seed from. */
  fromTree(from: string): Promise<{ identity: string; fs: SourceFs }>;
  secrets: readonly SecretSpec[];
  ssh: readonly SshSpec[];
  environment: Readonly<Record<string, string | undefined>>;
  /** This build's resolv.conf and hosts for a RUN on `network` (BuildKit's; see runtime/network/etc-files.ts). */
  etcFiles(network: RunNetwork): Promise<{ resolvConf: string | undefined; hosts: string }>;
}

export interface ExecuteRunOptions {
  snapshot: Snapshot;
  command: RunCommand;
  env: string[];
  cwd: string;
  user: string | undefined;
  network: RunNetwork;
  /** The build's sandbox namespace (network "default"): its path, once its network is up. */
  sandbox?: () => Promise<string>;
  /** `RUN --security=insecure`: all capabilities, no seccomp filter (runTransient's privileged) */
  privileged?: boolean;
  mounts: Mount[];
  sources: MountSources;
  stdout: Writable;
  stderr: Writable;
  signal?: AbortSignal;
  runtime?: string;
  stateDir?: string;
  /** Takes work to wait for at the end of the build (see runTransient's deferCleanup). */
  deferCleanup?: (p: Promise<void>) => void;
  /** Another RUN may follow in this build (runTransient's anotherFollows). */
  anotherFollows?: boolean;
  /** Does this absolute path exist in the parent rootfs? (mount stubs are removed afterwards) */
  existsInParent(abs: string): boolean;
  /** The type of an absolute path in the parent rootfs, undefined when absent. */
  parentType(abs: string): "file" | "dir" | "symlink" | "other" | undefined;
}

/** The tmpfs dir for configs that hold env secrets when the wrapper is missing (see runTransient). */
function secretEnvDir(memory: string): string {
  const dir = join(memory, "secrets");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Reads a secret's value: from its file, or its environment variable. */
async function secretValue(spec: SecretSpec | undefined, env: Readonly<Record<string, string | undefined>>): Promise<Buffer | undefined> {
  if (spec === undefined) return undefined;
  if (spec.src !== undefined) return readFile(spec.src);
  const v = env[spec.env ?? spec.id];
  return v === undefined ? undefined : Buffer.from(v);
}

/**
 * Runs a RUN step in a transient container over the snapshot, with its --mount list; removes
 * the mount points runc had to create (BuildKit's mount stubs), so that they never reach the
 * layer. Returns the exit code.
 */
export async function executeRun(o: ExecuteRunOptions): Promise<number> {
  const cleanup: (() => Promise<void>)[] = [];
  const mounts: MountRequest[] = [];
  const env = [...o.env];
  const secretEnv: string[] = [];
  const stubs = new Set<string>();
  const noteTarget = (abs: string) => {
    // Every missing ancestor of a mount target is a stub runc creates in the upper dir.
    const parts = abs.split("/").filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = "/" + parts.slice(0, i).join("/");
      if (!o.existsInParent(p)) stubs.add(p);
    }
  };
  let sshCount = 0;
  // the build's sandbox is made while this step's mounts are prepared (started already by the
  // builder when the step missed the cache, in most cases)
  const sandbox = o.network === "default" ? (o.sandbox?.() ?? Promise.reject(new Error("no network sandbox for this build"))) : undefined;
  sandbox?.catch(() => undefined);
  try {
    let privateDir: string | undefined;
    const priv = async (): Promise<string> => {
      privateDir ??= await mkdtemp("/tmp/berth-run-");
      const dir = privateDir;
      cleanup.push(() => rm(dir, { recursive: true, force: true }));
      return dir;
    };
    if (o.command.script !== undefined) {
      const dir = join(await priv(), "pipes");
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, o.command.script.name), o.command.script.content, { mode: 0o755 });
      mounts.push({ type: "bind", source: dir, destination: "/dev/pipes", readOnly: true });
    }
    // Cache dirs are held for the whole RUN (sharing=shared|private|locked, see leaseCacheDir),
    // taken in key order so two RUNs that lock the same caches cannot wait on each other;
    // mounts of one key in one RUN share a directory, as in BuildKit.
    const cacheMounts = o.mounts.filter((m): m is CacheMount => m.type === "cache");
    const cachePlans = new Map<CacheMount, CacheMountPlan>();
    const cacheDirs = new Map<string, string>();
    if (cacheMounts.length > 0) {
      const { cacheMountDir, leaseCacheDir, planCacheMount } = await import("../cache-mount.js");
      const trees = new Map<CacheMount, SourceFs>();
      for (const m of cacheMounts) {
        const from = m.from !== undefined ? await o.sources.fromTree(m.from) : undefined;
        if (from !== undefined) trees.set(m, from.fs);
        try {
          cachePlans.set(m, planCacheMount(m, from?.identity));
        } catch (err) {
          throw new MountSpecError(`--mount=${m.spec}: ${(err as Error).message}`);
        }
      }
      const byKey = [...cacheMounts].sort((a, b) => {
        const ka = cachePlans.get(a)!.key;
        const kb = cachePlans.get(b)!.key;
        return ka < kb ? -1 : ka > kb ? 1 : 0;
      });
      for (const m of byKey) {
        const plan = cachePlans.get(m)!;
        if (cacheDirs.has(plan.key)) continue;
        const tree = trees.get(m);
        const seed = plan.seed;
        const lease = await leaseCacheDir(cacheMountDir(o.sources.cacheMountsDir, plan.key), {
          sharing: m.sharing,
          ...(m.mode !== undefined ? { mode: m.mode } : {}),
          ...(m.uid !== undefined ? { uid: m.uid } : {}),
          ...(m.gid !== undefined ? { gid: m.gid } : {}),
          ...(o.signal !== undefined ? { signal: o.signal } : {}),
          ...(seed !== undefined && tree !== undefined ? { seed: (dir: string) => seedCacheDir(tree, seed, dir, m) } : {}),
        });
        cleanup.push(() => lease.release());
        cacheDirs.set(plan.key, lease.dir);
      }
    }
    const inContainer = (path: string): string => (path.startsWith("/") ? path : join(o.cwd, path));
    for (const m of o.mounts) {
      switch (m.type) {
        case "cache": {
          const target = inContainer(m.target);
          const plan = cachePlans.get(m)!;
          const dir = cacheDirs.get(plan.key)!;
          const host = plan.subpath === "" ? dir : cacheSubpath(dir, plan.subpath, m);
          mounts.push({ type: "bind", source: host, destination: target, readOnly: m.readOnly });
          noteTarget(target);
          break;
        }
        case "bind": {
          const target = inContainer(m.target);
          // The source resolves inside the tree, symlinks included (BuildKit's fs.RootPath):
          // never a path of the host.
          const sub = (m.source ?? "").replace(/^\/+/, "");
          const clean = cleanPath(sub === "" ? "." : sub);
          const where = m.from !== undefined ? `from=${m.from}` : "the build context";
          if (clean === ".." || clean.startsWith("../")) {
            throw new MountSpecError(`--mount=${m.spec}: source ${JSON.stringify(m.source)} is outside the ${m.from !== undefined ? `tree of from=${m.from}` : "build context"}`);
          }
          if (m.from !== undefined) {
            // a stage's or image's layers, merged by runc inside the container (never a mount
            // on the host, which a killed build would leave behind)
            mounts.push(await layersMount(await o.sources.fromLayers(m.from), sub, m, { destination: target, where, priv }));
            noteTarget(target);
            break;
          }
          const view: ContextView | undefined = await o.sources.contextView();
          const source = view.root;
          let host = sub === "" ? source : pathInside(source, sub, m, where);
          const rel = host === source ? "" : host.slice(source.length + 1);
          // .dockerignore: an excluded source is not there; one with exclusions below is an
          // overlay of the whiteout layer over it (see context-view.ts)
          if (view !== undefined && rel !== "" && view.context.lstat(rel) === undefined) {
            throw new MountSpecError(`--mount=${m.spec}: source "/${sub}" not found in ${where}`);
          }
          const whiteouts = view?.whiteouts === undefined ? undefined : rel === "" ? view.whiteouts : join(view.whiteouts, rel);
          if (whiteouts !== undefined && lstatSync(whiteouts, { throwIfNoEntry: false })?.isDirectory() === true) {
            const overlay: MountRequest = { type: "overlay", destination: target, lowerDirs: [whiteouts, host] };
            // writes go to a private upper dir, thrown away with the step (BuildKit)
            if (!m.readOnly) Object.assign(overlay, privateUpper(await priv()));
            mounts.push(overlay);
            noteTarget(target);
            break;
          }
          if (!m.readOnly) {
            // A writable bind's changes are thrown away (BuildKit): write to a private copy.
            const copy = join(await priv(), `rw-${randomBytes(4).toString("hex")}`);
            await cp(host, copy, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
            host = copy;
          }
          mounts.push({ type: "bind", source: host, destination: target, readOnly: m.readOnly });
          noteTarget(target);
          break;
        }
        case "tmpfs": {
          const target = inContainer(m.target);
          const opts = ["nosuid", "nodev", "mode=1777"];
          if (m.size !== undefined) opts.push(`size=${m.size}`);
          mounts.push({ type: "tmpfs", destination: target, options: opts });
          noteTarget(target);
          break;
        }
        case "secret": {
          const spec = o.sources.secrets.find((s) => s.id === m.id);
          const value = await secretValue(spec, o.sources.environment);
          if (value === undefined) {
            if (m.required) throw new MountSpecError(`secret ${m.id}: not provided (pass --secret id=${m.id},src=FILE)`);
            break;
          }
          // Secrets live in memory only: a tmpfs file while the step runs, an fd for env ones
          // (runTransient's secretEnv); never in /tmp or the store
          const memory = o.sources.memoryDir();
          if (memory === undefined) throw new MountSpecError(`secret ${m.id}: no private tmpfs dir to hold it (berth keeps secrets off disks: it needs /dev/shm, $XDG_RUNTIME_DIR or /run on a tmpfs, with a berth-build dir of its own, mode 0700; or set BERTH_MEMORY_DIR to a tmpfs dir)`);
          if (m.env !== undefined) secretEnv.push(`${m.env}=${value.toString("utf8")}`);
          if (m.target !== undefined) {
            const dir = join(memory, "secrets");
            mkdirSync(dir, { recursive: true, mode: 0o700 });
            const file = join(dir, `${randomBytes(8).toString("hex")}`);
            cleanup.push(async () => rmSync(file, { force: true }));
            writeFileSync(file, value, { mode: m.mode });
            await chown(file, m.uid, m.gid);
            const abs = inContainer(m.target);
            mounts.push({ type: "bind", source: file, destination: abs, readOnly: true });
            noteTarget(abs);
          }
          break;
        }
        case "ssh": {
          // BuildKit: /run/buildkit/ssh_agent.N for the Nth ssh mount, SSH_AUTH_SOCK = the first
          // one's target unless the env has it; an id the build was not given is skipped
          // unless required
          const target = inContainer(m.target ?? `/run/buildkit/ssh_agent.${sshCount}`);
          if (sshCount++ === 0 && !env.some((e) => e.startsWith("SSH_AUTH_SOCK="))) env.push(`SSH_AUTH_SOCK=${target}`);
          const agent = o.sources.ssh.find((s) => s.id === m.id);
          if (agent === undefined) {
            if (m.required) throw new MountSpecError(`ssh required but no ssh with id ${m.id} found (pass --ssh ${m.id === "default" ? "default" : `${m.id}=SOCKET`})`);
            break;
          }
          const socket = join(await priv(), `ssh-${sshCount}.sock`);
          cleanup.push(await forwardAgent(agent.socket, socket, m));
          mounts.push({ type: "bind", source: socket, destination: target });
          noteTarget(target);
          break;
        }
      }
    }
    // Like BuildKit (withROBind), every RUN gets a resolv.conf made from the host's and a hosts
    // file as read-only binds, so package managers work in images that ship no
    // /etc/resolv.conf; a target that is a symlink in the image is left alone. Mount points
    // runc makes are stubs.
    const etc = await o.sources.etcFiles(o.network);
    const etcStubs: string[] = [];
    for (const [target, host] of [["/etc/resolv.conf", etc.resolvConf], ["/etc/hosts", etc.hosts]] as const) {
      const inImage = o.parentType(target);
      if (host === undefined || (inImage !== undefined && inImage !== "file") || mounts.some((m) => m.destination === target)) continue;
      mounts.push({ type: "bind", source: host, destination: target, readOnly: true });
      noteTarget(target);
      if (inImage === undefined) etcStubs.push(target.slice("/etc/".length));
    }
    // Mount points the image lacks come from a lower dir below the image's layers (empty files in
    // etc/), so runc finds them instead of creating them in the upper dir: no copy-up of /etc
    // (whose removal needs a getfattr process to tell an opaque /etc, ~4 ms a step). The view
    // is the same: exactly the files that get bind-mounted, and /etc, which runc made before.
    const lowerDirs = o.stateDir !== undefined && etcStubs.length > 0 ? [...o.snapshot.lowerDirs, mountPointLayer(o.stateDir, etcStubs)] : o.snapshot.lowerDirs;
    for (const p of ["/proc", "/sys", "/dev"]) if (!o.existsInParent(p)) stubs.add(p);
    if (o.cwd !== "/") noteTarget(o.cwd);
    const network = sandbox !== undefined ? { netns: await sandbox } : o.network === "host" ? "host" : "none";
    const run = async (): Promise<number> => {
      const r = await runTransient({
        lowerDirs,
        upperDir: o.snapshot.upperDir,
        workDir: o.snapshot.workDir,
        process: { args: o.command.args, env, cwd: o.cwd, ...(o.user !== undefined && o.user !== "" ? { user: o.user } : {}) },
        network,
        // BuildKit's hostname, on every network (a UTS namespace of its own even on the host's)
        hostname: BUILD_HOSTNAME,
        ...(o.privileged === true ? { privileged: true } : {}),
        mounts,
        stdin: "ignore",
        stdout: o.stdout,
        stderr: o.stderr,
        ...(o.signal !== undefined ? { signal: o.signal } : {}),
        ...(o.runtime !== undefined ? { runtime: o.runtime } : {}),
        ...(o.stateDir !== undefined ? { stateDir: o.stateDir } : {}),
        ...(secretEnv.length > 0 ? { secretEnv, secretEnvDir: secretEnvDir(o.sources.memoryDir() as string) } : {}),
        ...(o.deferCleanup !== undefined ? { deferCleanup: o.deferCleanup } : {}),
        // the store syncs a build's layers once, before a cache entry or an image names them
        volatile: true,
        anotherFollows: o.anotherFollows === true,
      });
      return r.exitCode;
    };
    const code = await run();
    // The working directory stays when the command created it or (like BuildKit) when it was
    // missing: only mount points are stubs.
    if (o.cwd !== "/") for (const p of [...stubs]) if (o.cwd === p || o.cwd.startsWith(p + "/")) stubs.delete(p);
    removeStubs(o.snapshot.upperDir, stubs, o.existsInParent);
    return code;
  } finally {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  }
}

/**
 * Removes mount stubs (empty files or empty dirs) from the upper dir, deepest first; then the
 * directories that only got copied up to hold a stub (they exist below, are empty in the upper
 * dir and not opaque), so a RUN that changed nothing leaves an empty upper dir.
 */
function removeStubs(upper: string, stubs: Set<string>, existsInParent: (abs: string) => boolean): void {
  const sorted = [...stubs].sort((a, b) => b.length - a.length);
  const parents = new Set<string>();
  // synchronous: a few calls on a mostly empty upper dir, after every RUN
  const lstatMaybe = (p: string): Stats | undefined => {
    try {
      return lstatSync(p);
    } catch {
      return undefined;
    }
  };
  for (const p of sorted) {
    const host = join(upper, p);
    const st = lstatMaybe(host);
    for (let d = p.slice(0, p.lastIndexOf("/")); d !== ""; d = d.slice(0, d.lastIndexOf("/"))) parents.add(d);
    if (st === undefined) continue;
    if (st.isDirectory()) {
      if (readdirSync(host).length === 0) rmSync(host, { recursive: true, force: true });
    } else if (st.isFile() && st.size === 0) rmSync(host, { force: true });
  }
  for (const d of [...parents].sort((a, b) => b.length - a.length)) {
    if (stubs.has(d) || !existsInParent(d)) continue;
    const host = join(upper, d);
    const st = lstatMaybe(host);
    if (st === undefined || !st.isDirectory() || readdirSync(host).length > 0 || overlayOpaque(host)) continue;
    rmSync(host, { recursive: true, force: true });
  }
}

/**
 * A directory holding etc/<name> as an empty file for each name (resolv.conf, hosts), made once
 * per state dir (a build's own) and shared by its steps; it is never written through (it is a
 * lower dir, the files are covered by bind mounts).
 */
function mountPointLayer(stateDir: string, names: string[]): string {
  const dir = join(stateDir, `mountpoints-${names.join("-")}`);
  if (!existsSync(join(dir, "etc", names[names.length - 1]!))) {
    mkdirSync(join(dir, "etc"), { recursive: true, mode: 0o755 });
    for (const n of names) writeFileSync(join(dir, "etc", n), "", { mode: 0o644 });
  }
  return dir;
}

/**
 * A socket at `path` that forwards each connection to the agent at `agent`: the container gets
 * its own socket with the mount's owner and mode (as BuildKit's, whose agent comes through the
 * client session), never the host's. Returns its shutdown.
 */
async function forwardAgent(agent: string, path: string, m: { mode: number; uid: number; gid: number }): Promise<() => Promise<void>> {
  const { createConnection, createServer } = await import("node:net");
  const open = new Set<import("node:net").Socket>();
  const server = createServer((client) => {
    const upstream = createConnection(agent);
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      open.add(a);
      a.on("error", () => b.destroy());
      a.on("close", () => {
        open.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, resolve);
  });
  await chmod(path, m.mode);
  await chown(path, m.uid, m.gid);
  return async () => {
    for (const s of open) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/**
 * Fills a new cache directory with from's tree at the plan's source, as BuildKit's cache ref
 * starts as a copy of its base: owners, modes, times, symlinks, hard links and device nodes
 * kept (the COPY --from writer); the directory itself takes the source directory's metadata.
 */
async function seedCacheDir(tree: SourceFs, seed: NonNullable<CacheMountPlan["seed"]>, dir: string, m: CacheMount): Promise<void> {
  const { resolveInTree, selectSourceTree } = await import("../../context/index.js");
  const rel = resolveInTree(tree, seed.source);
  const selection = selectSourceTree(tree, rel);
  if (selection === undefined) {
    if (seed.mkdir === undefined) throw new MountSpecError(`--mount=${m.spec}: source "/${seed.source}" not found in the ${tree.label}`);
    await mkdir(dir);
    await chmod(dir, seed.mkdir.mode);
    await chown(dir, seed.mkdir.uid, seed.mkdir.gid);
    return;
  }
  if (!selection.isDir) throw new MountSpecError(`--mount=${m.spec}: source "/${seed.source}" in the ${tree.label} is not a directory`);
  await mkdir(dir);
  const { writeCopy } = await import("../copy/writer.js");
  await writeCopy({ source: tree, sources: [selection], dest: "/", upperDir: dir, lowerDirs: [] });
  const root = selection.root;
  await chmod(dir, root.mode & 0o7777);
  await chown(dir, root.uid, root.gid);
  await utimes(dir, root.mtimeMs / 1000, root.mtimeMs / 1000);
}

/**
 * `source=` of a cache mount without from=: a path inside the cache that must exist (BuildKit
 * mounts the cache ref's subpath and fails when it is missing); symlinks that RUNs left in the
 * cache resolve inside it, never to the host.
 */
function cacheSubpath(dir: string, subpath: string, m: CacheMount): string {
  return pathInside(dir, subpath, m, `the cache ${JSON.stringify(m.id)} (a mount without from= starts empty)`);
}

/** `subpath` of the host directory `dir`, symlinks resolved as if `dir` were the root; must exist. */
function pathInside(dir: string, subpath: string, m: Mount, where: string): string {
  const isLink = (rel: string): boolean => {
    try {
      return lstatSync(join(dir, rel)).isSymbolicLink();
    } catch {
      return false;
    }
  };
  const rel = resolveChrooted(subpath, isLink, (r) => readlinkSync(join(dir, r)), true, () => new MountSpecError(`--mount=${m.spec}: too many levels of symbolic links in source "/${subpath}"`));
  const host = rel === "" ? dir : join(dir, rel);
  if (!existsSync(host)) throw new MountSpecError(`--mount=${m.spec}: source "/${subpath}" not found in ${where}`);
  return host;
}

/**
 * `--mount=type=bind,from=…,source=…`: the source resolved inside the layers' merged tree
 * (symlinks included), then mounted by runc: a file or a one-layer directory bound, a directory
 * of several layers as a read-only overlay of its layers' copies. Writable: an overlay with a
 * private upper dir, thrown away with the step (BuildKit).
 */
async function layersMount(fs: LayeredSourceFs, sub: string, m: Mount & { type: "bind" }, o: { destination: string; where: string; priv: () => Promise<string> }): Promise<MountRequest> {
  const { destination, where, priv } = o;
  const rel = resolveChrooted(sub, (r) => fs.lstat(r)?.type === "symlink", (r) => fs.readlink(r), true, () => new MountSpecError(`--mount=${m.spec}: too many levels of symbolic links in source "/${sub}"`));
  const st = fs.lstat(rel);
  if (st === undefined) throw new MountSpecError(`--mount=${m.spec}: source "/${sub}" not found in ${where}`);
  if (st.type !== "dir") {
    if (!m.readOnly) {
      const copy = join(await priv(), `rw-${randomBytes(4).toString("hex")}`);
      await cp(fs.hostPath(rel), copy, { preserveTimestamps: true, verbatimSymlinks: true });
      return { type: "bind", source: copy, destination, readOnly: false };
    }
    return { type: "bind", source: fs.hostPath(rel), destination, readOnly: true };
  }
  const lowerDirs = fs.dirLayers(rel);
  if (m.readOnly && lowerDirs.length === 1) return { type: "bind", source: lowerDirs[0]!, destination, readOnly: true };
  const overlay: MountRequest = { type: "overlay", destination, lowerDirs };
  if (!m.readOnly) Object.assign(overlay, privateUpper(await priv()));
  return overlay;
}

/** A writable bind's overlay dirs under the step's private dir: its writes go there and are thrown away (BuildKit). */
function privateUpper(privateDir: string): { upperDir: string; workDir: string } {
  const dir = join(privateDir, `rw-${randomBytes(4).toString("hex")}`);
  mkdirSync(join(dir, "u"), { recursive: true });
  mkdirSync(join(dir, "w"));
  return { upperDir: join(dir, "u"), workDir: join(dir, "w") };
}

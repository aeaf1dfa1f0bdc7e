import { mkdir, readFile } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { RuntimeError } from "./errors.js";
import { runProgram } from "./exec-file.js";
import { isRootless } from "../sys/host-uid.js";
import { overlayXattrOptions } from "../sys/overlay-xattr.js";
import { runRoot } from "../sys/run-root.js";

export interface OverlayDirs {
  /** lower layers, top first (as overlayfs wants them) */
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
}

/**
 * Which overlay berth mounts: the kernel's overlayfs, or fuse-overlayfs (Debian's package of it)
 * where the kernel refuses overlay in a user namespace (before Linux 5.11, or switched off).
 * BERTH_OVERLAY=fuse or =kernel chooses; otherwise root uses the kernel's, and rootless berth
 * tries one kernel overlay mount in its namespace and keeps the answer in the run root.
 * fuse-overlayfs serves the mount from a process of its own, so its mounts are made where that
 * process can be unmounted when the container ends (inMountNamespace), never by runc itself,
 * and RUN --mount binds that need an overlay (a writable bind, a stage's several layers) are
 * not available with it.
 */
export type OverlayDriver = "kernel" | "fuse";

let driver: OverlayDriver | undefined;

export function overlayDriver(): OverlayDriver {
  if (driver !== undefined) return driver;
  const set = process.env.BERTH_OVERLAY;
  if (set === "kernel" || set === "fuse") return (driver = set);
  if (set !== undefined && set !== "") throw new RuntimeError(`BERTH_OVERLAY=${set}: want kernel or fuse`);
  if (!isRootless()) return (driver = "kernel");
  const file = join(runRoot(), "overlay-driver");
  try {
    const known = readFileSync(file, "utf8").trim();
    if (known === "kernel" || known === "fuse") return (driver = known);
  } catch {
    // not probed yet in this run root
  }
  driver = kernelOverlayWorks() ? "kernel" : "fuse";
  try {
    writeFileSync(file, driver);
  } catch {
    // probed again next time
  }
  return driver;
}

/** Whether one kernel overlay mount (with userxattr, as rootless berth mounts them) succeeds here. */
function kernelOverlayWorks(): boolean {
  mkdirSync(runRoot(), { recursive: true, mode: 0o700 });
  const dir = mkdtempSync(join(runRoot(), "overlay-probe-"));
  try {
    for (const d of ["l", "u", "w", "m"]) mkdirSync(join(dir, d));
    const options = [...overlayXattrOptions(), `lowerdir=${dir}/l,upperdir=${dir}/u,workdir=${dir}/w`].join(",");
    const ok = spawnSync("mount", ["-t", "overlay", "overlay", "-o", options, join(dir, "m")], { stdio: "ignore" }).status === 0;
    if (ok) spawnSync("umount", [join(dir, "m")], { stdio: "ignore" });
    return ok;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * fuse-overlayfs's options: absolute paths (it resolves them after leaving the mounting
 * process's directory) and no kernel-only options; its arguments, not kernel mount data, so
 * no page limit.
 */
function fuseOverlayOptions(dirs: OverlayDirs, readOnly: boolean): string {
  overlayOptions(dirs); // the paths' checks
  if (readOnly) return `lowerdir=${[dirs.upperDir, ...dirs.lowerDirs].join(":")}`;
  return `lowerdir=${dirs.lowerDirs.join(":")},upperdir=${dirs.upperDir},workdir=${dirs.workDir}`;
}

/** The kernel takes at most one page of mount data; keep a margin for the fixed parts. */
const MAX_OPTIONS = 4000;

function commonParent(paths: string[]): string {
  let prefix = dirname(paths[0] as string);
  for (const p of paths) {
    while (prefix !== "/" && !(p === prefix || p.startsWith(prefix + sep))) prefix = dirname(prefix);
  }
  return prefix;
}

/**
 * The option string for mount(8), and the directory mount must run in. Paths are made
 * relative to their deepest common parent (overlayfs resolves them against the mounting
 * process's cwd), which keeps the string short for images with many layers — the trick
 * Docker's overlay2 driver plays with its short `l/` links.
 */
export function overlayOptions(dirs: OverlayDirs): { options: string; cwd: string } {
  const all = [...dirs.lowerDirs, dirs.upperDir, dirs.workDir];
  for (const p of all) {
    if (/[,:]/.test(p)) throw new RuntimeError(`overlay: layer path contains ',' or ':': ${p}`);
    if (!p.startsWith("/")) throw new RuntimeError(`overlay: layer path is not absolute: ${p}`);
  }
  const cwd = commonParent(all);
  const rel = (p: string) => (cwd === "/" ? p : relative(cwd, p) || ".");
  const options = [...overlayXattrOptions(), `lowerdir=${dirs.lowerDirs.map(rel).join(":")}`, `upperdir=${rel(dirs.upperDir)}`, `workdir=${rel(dirs.workDir)}`].join(",");
  if (options.length > MAX_OPTIONS) {
    throw new RuntimeError(`overlay: ${dirs.lowerDirs.length} layers make a mount option string of ${options.length} bytes (limit ${MAX_OPTIONS}); squash the image`);
  }
  return { options, cwd };
}

/** The options of a read-only view of `dirs`: the upper dir on top of the lower ones, no work dir. */
function readOnlyOverlayOptions(dirs: OverlayDirs): { options: string; cwd: string } {
  const { options, cwd } = overlayOptions({ ...dirs, lowerDirs: [dirs.upperDir, ...dirs.lowerDirs] });
  return { options: options.replace(/,upperdir=.*$/, ""), cwd };
}

/**
 * Mount an overlay of `dirs` on `target` (created if missing) with one mount(8) process.
 * No lower layer (FROM scratch) is allowed: an empty directory beside the target stands in,
 * since overlayfs needs one.
 */
export async function mountOverlay(dirs: OverlayDirs, target: string): Promise<void> {
  let lowerDirs = dirs.lowerDirs;
  if (lowerDirs.length === 0) {
    const empty = `${target}.empty`;
    await mkdir(empty, { recursive: true });
    lowerDirs = [empty];
  }
  await mkdir(target, { recursive: true });
  const { options, cwd } = overlayOptions({ ...dirs, lowerDirs });
  const r =
    overlayDriver() === "fuse"
      ? await runProgram("fuse-overlayfs", ["-o", fuseOverlayOptions({ ...dirs, lowerDirs }, false), target])
      : await runProgram("mount", ["-t", "overlay", "overlay", "-o", options, target], { cwd });
  if (r.code !== 0) throw new RuntimeError(`mounting the container's root file system on ${target} failed: ${r.stderr.trim()}`);
}

/**
 * A process chain that mounts the overlay on `target` in a private mount namespace, then
 * execs `command` (runc) there: `unshare -m sh -c 'mount … && exec runc …'`. The mount lives
 * exactly as long as the command — when runc exits, the namespace and the mount go with it —
 * so there is nothing to unmount (one process fewer per container) and nothing to leak when
 * berth is SIGKILLed. mount(8)'s complaint goes to `errFile`; runc's `--log` file missing
 * after a failed exit means the mount failed (runc creates it as it starts).
 *
 * With `finish` the shell does not exec runc but waits for it (a fork of the shell: the
 * container's exit code then has a parent that outlives the caller) and exits with its code.
 * Should the caller have died meanwhile (the shell's parent is no longer the one it started
 * with: a `berth run` SIGKILLed), it execs `finish` with the exit code appended, to record it
 * and remove a --rm container, as Docker's daemon does for a client that went away. Signals
 * do not end the shell (the terminal's Ctrl-C reaches runc, in the same process group, which
 * forwards it): send them to runc (`runtimeChild`).
 */
export async function inMountNamespace(
  dirs: OverlayDirs,
  target: string,
  command: string[],
  errFile: string,
  options: { volatile?: boolean; finish?: string[]; readOnly?: boolean } = {},
): Promise<{ file: string; args: string[]; cwd: string }> {
  let lowerDirs = dirs.lowerDirs;
  // synchronous mkdir: on every container start, cheaper than a thread-pool round trip
  if (lowerDirs.length === 0) {
    const empty = `${target}.empty`;
    mkdirSync(empty, { recursive: true });
    lowerDirs = [empty];
  }
  mkdirSync(target, { recursive: true });
  // read-only: the upper dir becomes the top lower layer and there is no work dir, so this
  // mount takes none of overlayfs's in-use locks and cannot disturb a writable mount of the
  // same layers (two writable ones share a work dir, which the second mount empties)
  const fuse = overlayDriver() === "fuse";
  const overlay = fuse
    ? { options: fuseOverlayOptions({ ...dirs, lowerDirs }, options.readOnly === true), cwd: "/" }
    : options.readOnly === true
      ? readOnlyOverlayOptions({ ...dirs, lowerDirs })
      : overlayOptions({ ...dirs, lowerDirs });
  // volatile: no sync of the upper file system when the mount goes (Linux 5.10+) — for rw
  // layers nobody keeps (--rm); it leaves work/incompat/volatile, which a remount refuses
  const volatile = options.volatile === true && supportsVolatile() && !fuse;
  const mountOptions = volatile ? `${overlay.options},volatile` : overlay.options;
  // fuse-overlayfs's process would keep the namespace and its mount alive after the command:
  // the shell waits for the command and unmounts (lazily: a caller may still read through
  // /proc/PID/root), which ends that process
  const mount = fuse ? 'fuse-overlayfs -o "$1" "$2" 2>"$3" || exit 1; t="$2"' : 'mount -t overlay overlay -o "$1" "$2" 2>"$3" || exit 1';
  const unmount = fuse ? '; umount -l "$t"' : "";
  if (options.finish !== undefined) {
    const n = options.finish.length;
    const script = [
      mount,
      // f: the words "${1}" … "${n}", for eval to expand into the finisher's argv after runc's exit
      'shift 3; f=""; i=0; while [ $i -lt ' + n + ' ]; do i=$((i+1)); f="$f \\"\\${$i}\\""; done',
      "trap : HUP INT QUIT TERM",
      `( shift ${n}; exec "$@" ); c=$?${unmount}`,
      'read -r _ _ _ p _ </proc/$$/stat; [ "$p" = "$PPID" ] && exit $c',
      `eval "exec $f" $c`,
    ].join("\n");
    return {
      file: "unshare",
      args: ["--mount", "--propagation", "private", "sh", "-c", script, "berth-mount", mountOptions, target, errFile, ...options.finish, ...command],
      cwd: overlay.cwd,
    };
  }
  const script = fuse ? `${mount}; shift 3; trap : HUP INT QUIT TERM; "$@"; c=$?${unmount}; exit $c` : `${mount}; shift 3; exec "$@"`;
  return {
    file: "unshare",
    // slave, not private: unmounts under berth's shared net dir (a network's namespace file,
    // see runtime/network/namespace.ts) reach this namespace's copies, which would pin them
    args: ["--mount", "--propagation", "slave", "sh", "-c", script, "berth-mount", mountOptions, target, errFile, ...command],
    cwd: overlay.cwd,
  };
}

/** The process a `finish` chain (inMountNamespace) runs the command as, once it runs: the shell's child. */
export function runtimeChild(chainPid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${chainPid}/task/${chainPid}/children`, "utf8").trim().split(" ")[0];
    return first === undefined || first === "" ? undefined : Number(first);
  } catch {
    return undefined;
  }
}

/** Whether the kernel's overlayfs takes the `volatile` option (Linux 5.10+). */
export function supportsVolatile(): boolean {
  const [major = 0, minor = 0] = release().split(".").map((n) => parseInt(n, 10));
  return major > 5 || (major === 5 && minor >= 10);
}

/** A path field of /proc/self/mountinfo as the path it is (the kernel writes \\040 for a space …). */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Whether `target` is a mount point now (from /proc/self/mountinfo). */
export function isMounted(target: string): boolean {
  const info = readFileSync("/proc/self/mountinfo", "utf8");
  for (const line of info.split("\n")) {
    const field = line.split(" ")[4];
    if (field !== undefined && unescapeMountField(field) === target) return true;
  }
  return false;
}

/**
 * Unmount `target`. A busy mount (a process still holds it) is detached lazily so removal
 * never blocks; a target that is not mounted is fine (cleanup is idempotent).
 */
export async function unmountOverlay(target: string): Promise<void> {
  const r = await runProgram("umount", [target]);
  if (r.code === 0) return;
  if (!isMounted(target)) return;
  const lazy = await runProgram("umount", ["-l", target]);
  if (lazy.code !== 0 && isMounted(target)) throw new RuntimeError(`unmounting ${target} failed: ${lazy.stderr.trim() || r.stderr.trim()}`);
}

/** The error for a chain whose mount failed (see inMountNamespace), with mount(8)'s message. */
export async function mountFailure(errFile: string, target: string): Promise<RuntimeError> {
  const message = (await readFile(errFile, "utf8").catch(() => "")).trim();
  return new RuntimeError(`mounting the container's root file system on ${target} failed${message === "" ? "" : `: ${message}`}`);
}

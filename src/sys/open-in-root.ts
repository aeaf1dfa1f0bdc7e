import { berthNative } from "./addon.js";

let usable = true;

/**
 * openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS through the addon: `path` resolved
 * inside `rootFd` as a chroot would, the kernel refusing to leave it even when a rename races;
 * the fd. Undefined where it cannot be used (no addon, BERTH_NO_OPENAT2=1, a kernel before 5.6
 * or a seccomp filter that refuses it): the caller walks the path itself (runtime/in-root.ts).
 * Other errors throw as Node's do (ENOENT, ELOOP …).
 */
export function openat2InRoot(rootFd: number, path: string, flags: number, mode: number): number | undefined {
  const native = berthNative();
  if (!usable || native === null || process.env.BERTH_NO_OPENAT2 === "1") return undefined;
  try {
    return native.openInRoot(rootFd, path === "" ? "/" : path, flags, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOSYS" && code !== "EPERM") throw err;
    usable = false;
    return undefined;
  }
}

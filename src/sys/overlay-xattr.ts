import { hasCapSysAdmin } from "./capabilities.js";
import { isRootless } from "./host-uid.js";

/**
 * Where overlayfs keeps its own marks (an opaque directory's): trusted.overlay.* as root.
 * Inside berth's user namespace trusted.* is out of reach, so rootless berth mounts its
 * overlays with `userxattr` (Linux 5.11 and later) and the marks are user.overlay.*, in the
 * upper dirs it diffs and the layer dirs it extracts alike. Root without CAP_SYS_ADMIN (in a
 * container without --privileged, building with `--isolation chroot`) cannot set trusted.*
 * either: its layers carry user.overlay.* too (it mounts no overlay).
 */
export function overlayXattrPrefix(): string {
  return isRootless() || !hasCapSysAdmin() ? "user.overlay." : "trusted.overlay.";
}

/** The attribute that marks a directory opaque (replaced wholesale: the lower dirs' entries hidden). */
export function overlayOpaqueXattr(): string {
  return `${overlayXattrPrefix()}opaque`;
}

/** The mount options an overlay needs before its dirs: `userxattr` when rootless, else none. */
export function overlayXattrOptions(): string[] {
  return isRootless() ? ["userxattr"] : [];
}

/** fuse-overlayfs's own attributes (user.fuseoverlayfs.opaque, .origin …): never part of a layer. */
const FUSE_OVERLAY_PREFIX = "user.fuseoverlayfs.";

/** Whether an attribute is overlay bookkeeping (the kernel's or fuse-overlayfs's), not content. */
export function isOverlayXattr(name: string): boolean {
  return name.startsWith(overlayXattrPrefix()) || name.startsWith(FUSE_OVERLAY_PREFIX);
}

/** The attributes that mark an upper dir's directory opaque: the kernel's, and fuse-overlayfs's own. */
export function overlayOpaqueXattrs(): string[] {
  return [overlayOpaqueXattr(), `${FUSE_OVERLAY_PREFIX}opaque`];
}

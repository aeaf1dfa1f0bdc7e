import { isRootless } from "./host-uid.js";

/**
 * Where overlayfs keeps its own marks (an opaque directory's): trusted.overlay.* as root.
 * Inside berth's user namespace trusted.* is out of reach, so rootless berth mounts its
 * overlays with `userxattr` (Linux 5.11 and later) and the marks are user.overlay.*, in the
 * upper dirs it diffs and the layer dirs it extracts alike.
 */
export function overlayXattrPrefix(): string {
  return isRootless() ? "user.overlay." : "trusted.overlay.";
}

/** The attribute that marks a directory opaque (replaced wholesale: the lower dirs' entries hidden). */
export function overlayOpaqueXattr(): string {
  return `${overlayXattrPrefix()}opaque`;
}

/** The mount options an overlay needs before its dirs: `userxattr` when rootless, else none. */
export function overlayXattrOptions(): string[] {
  return isRootless() ? ["userxattr"] : [];
}

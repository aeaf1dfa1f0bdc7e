import { join } from "node:path";
import { hostUid } from "./host-uid.js";

/**
 * Where runtime state lives (runc state, network namespaces, build sandboxes, proxy sockets),
 * on tmpfs so that a reboot clears it: $BERTH_RUN_ROOT, else /run/berth as root, else
 * $XDG_RUNTIME_DIR/berth, as podman's rootless runroot (/tmp/berth-<uid> without one).
 */
export function runRoot(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const set = env.BERTH_RUN_ROOT;
  if (set !== undefined && set.startsWith("/")) return set;
  const uid = hostUid(env);
  if (uid === 0) return "/run/berth";
  return env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, "berth") : `/tmp/berth-${uid}`;
}

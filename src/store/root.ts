import { homedir } from "node:os";
import { join } from "node:path";
import { hostUid } from "../sys/host-uid.js";

/**
 * The store directory: `--root`, else $BERTH_ROOT, else /var/lib/berth as root, else
 * $XDG_DATA_HOME/berth (~/.local/share/berth).
 */
export function resolveStoreRoot(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (option !== undefined && option !== "") return option;
  if (env.BERTH_ROOT) return env.BERTH_ROOT;
  if (hostUid(env) === 0) return "/var/lib/berth";
  const data = env.XDG_DATA_HOME || join(env.HOME || homedir(), ".local", "share");
  return join(data, "berth");
}

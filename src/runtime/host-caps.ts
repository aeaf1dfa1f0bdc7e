import { readFileSync } from "node:fs";
import { ALL_CAPABILITIES } from "./defaults.js";

/**
 * The capabilities this process may hand on (its bounding set): --privileged and
 * `--cap-add ALL` grant these, since runc cannot give a container what its parent lacks
 * (a host or sandbox may have dropped some, e.g. CAP_SYS_RESOURCE).
 */
export function hostCapabilities(): string[] {
  try {
    const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("CapBnd:"));
    if (line === undefined) return [...ALL_CAPABILITIES];
    const mask = BigInt(`0x${line.slice(7).trim()}`);
    return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
  } catch {
    return [...ALL_CAPABILITIES];
  }
}

import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { join } from "node:path";

/** Runs the built CLI (`npm run build` first; `npm test` does) against a store root. */
export const BERTH = join(import.meta.dirname, "../../../bin/berth");

export function berth(root: string, args: string[], input?: Buffer): SpawnSyncReturns<string> {
  // a per-command limit, so that a hang fails naming the command instead of the whole test timing out
  return spawnSync(process.execPath, [BERTH, "--root", root, ...args], { encoding: "utf8", ...(input ? { input } : {}), maxBuffer: 1 << 28, timeout: 120_000 });
}

export function ok(root: string, args: string[]): string {
  const r = berth(root, args);
  if (r.status !== 0) throw new Error(`berth ${args.join(" ")} failed (${r.status ?? r.signal}${r.error ? `, ${r.error.message}` : ""}): ${r.stderr}`);
  return r.stdout;
}

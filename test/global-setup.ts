import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { removeNetworkNamespace } from "../src/runtime/network/namespace.js";
import { pruneSandboxes } from "../src/runtime/network/sandbox-pool.js";
import { runProgram } from "../src/runtime/exec-file.js";
import type { NetworkRecord } from "../src/runtime/network/records.js";
import { testRunRoot } from "./run-root.js";

/**
 * Every test (and every berth command a test runs) keeps its runtime state under a run root of
 * this test run's own (vitest.config.ts sets $BERTH_RUN_ROOT), so that test runs side by side
 * never touch each other's state. A store's networks keep their namespace and pasta between
 * commands (as Docker's bridge does) until `network rm`/`prune`, and the builds' network
 * sandboxes are kept between builds: at the end of the run this takes down both, unmounts what
 * is left under the run root and removes it, so that a test run leaves no nsfs mount or pasta
 * behind.
 */
export default function setup(): () => Promise<void> {
  return async () => {
    const root = testRunRoot();
    if (!existsSync(root)) return;
    const report = (what: string) => (err: unknown) => console.error(`global teardown: ${what}: ${String(err)}`);
    for (const entry of readdirSync(root)) {
      const dir = join(root, entry);
      if (entry.startsWith("sandbox")) await pruneSandboxes(dir).catch(report(dir));
      const netDir = join(dir, "net");
      if (!/^[0-9a-f]{12}$/.test(entry) || !existsSync(netDir)) continue;
      for (const id of readdirSync(netDir).filter((f) => f !== ".lock")) {
        // only the state dir's name (the network id's first 12 digits) matters for its removal
        const record = { id, name: id, subnet: "10.0.0.0/8", gateway: "10.0.0.1" } as NetworkRecord;
        await removeNetworkNamespace(dir, record).catch(report(`${netDir}/${id}`));
      }
    }
    // what is still mounted under the run root, deepest first; nothing is removed through a mount
    const mounted = () =>
      readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .map((line) => line.split(" ")[4])
        .filter((m): m is string => m !== undefined && (m === root || m.startsWith(`${root}/`)))
        .sort((a, b) => b.length - a.length);
    for (const m of mounted()) await runProgram("umount", ["-l", m]).catch(report(m));
    if (mounted().length === 0) rmSync(root, { recursive: true, force: true });
    else console.error(`global teardown: ${root} kept: still mounted`);
  };
}

import { createHash } from "node:crypto";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { removeNetworkNamespace } from "../src/runtime/network/namespace.js";
import { pruneSandboxes } from "../src/runtime/network/sandbox-pool.js";
import { runProgram } from "../src/runtime/exec-file.js";
import type { NetworkRecord } from "../src/runtime/network/records.js";

const RUN_ROOT = "/run/berth";

function runDirHash(root: string): string {
  return createHash("sha256").update(resolve(root)).digest("hex").slice(0, 12);
}

/**
 * Tests make throw-away stores. A store's networks keep their namespace and pasta between
 * commands (as Docker's bridge does) until `network rm`/`prune`; the runtime harness prunes,
 * other tests that run a container on the default network do not. At the end of the run this
 * takes down the networks of run dirs whose net/ changed during it, so that a test run leaves
 * no nsfs mount or pasta behind. The default store's run dir (and $BERTH_ROOT's) is never touched.
 * The builds' network sandboxes, kept between builds, live in a pool of the run's own, taken
 * down here too.
 */
export default function setup(): () => Promise<void> {
  const started = Date.now();
  return async () => {
    // the sandbox pool vitest.config.ts gives the tests (named after this process, as there)
    const pool = `/run/berth/sandbox-test-${process.pid}`;
    if (existsSync(pool)) {
      await pruneSandboxes(pool).catch((err: unknown) => console.error(`global teardown: ${pool}: ${String(err)}`));
      await runProgram("umount", ["-l", pool]).catch(() => undefined);
      rmSync(pool, { recursive: true, force: true });
    }
    const keep = new Set(["/var/lib/berth", process.env.BERTH_ROOT].filter((r): r is string => r !== undefined && r !== "").map(runDirHash));
    let runDirs: string[];
    try {
      runDirs = readdirSync(RUN_ROOT).filter((h) => /^[0-9a-f]{12}$/.test(h) && !keep.has(h));
    } catch {
      return;
    }
    for (const h of runDirs) {
      const runDir = join(RUN_ROOT, h);
      const netDir = join(runDir, "net");
      try {
        if (statSync(netDir).mtimeMs < started) continue;
      } catch {
        continue;
      }
      for (const id of readdirSync(netDir).filter((f) => f !== ".lock")) {
        // only the state dir's name (the network id's first 12 digits) matters for its removal
        const record = { id, name: id, subnet: "10.0.0.0/8", gateway: "10.0.0.1" } as NetworkRecord;
        await removeNetworkNamespace(runDir, record).catch((err: unknown) => console.error(`global teardown: ${netDir}/${id}: ${String(err)}`));
      }
    }
  };
}

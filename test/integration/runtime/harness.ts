import { runRoot } from "../../../src/sys/run-root.js";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { busyboxTarball, hasBusybox } from "../../helpers/busybox.js";
import { openStore } from "../../../src/store/index.js";
import { importRootfs } from "../../../src/image/index.js";
import type { ContainerConfig } from "../../../src/image/types.js";

/**
 * Shared set-up for the runtime's integration tests: a temp store with a busybox image
 * (imported from the busybox test tarball), the built CLI (dist/, `npm run build`), and the
 * leak checks every test file ends with.
 */
export const canRun = process.getuid?.() === 0 && hasBusybox();
export const BERTH = join(import.meta.dirname, "../../../bin/berth");

export interface Harness {
  root: string;
  runDir: string;
  /** run the CLI to completion */
  berth(args: string[], opts?: { input?: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** start the CLI and leave it running */
  spawnBerth(args: string[]): ChildProcess;
  /** add an image derived from busybox with these config fields; returns its tag */
  image(tag: string, config: ContainerConfig): Promise<string>;
  cleanup(): Promise<void>;
}

export async function makeHarness(name: string): Promise<Harness> {
  const root = mkdtempSync(`/tmp/berth-rt-${name}-`);
  const runDir = join(runRoot(), createHash("sha256").update(root).digest("hex").slice(0, 12));
  const store = await openStore(root);
  await importRootfs(store, createReadStream(busyboxTarball()), {
    tag: "busybox:latest",
    source: "busybox-rootfs.tar",
    changes: ['CMD ["sh"]', "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  });
  const env = { ...process.env, BERTH_ROOT: root };
  const berth: Harness["berth"] = (args, opts = {}) =>
    new Promise((resolve) => {
      const child = execFile(BERTH, args, { env: { ...env, ...(opts.env ?? {}) }, ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}), timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === "number" ? ((err as unknown as { code: number }).code) : 1;
        resolve({ code, stdout, stderr });
      });
      if (opts.input !== undefined) child.stdin?.end(opts.input);
      else child.stdin?.end();
    });
  return {
    root,
    runDir,
    berth,
    spawnBerth: (args) => spawn(BERTH, args, { env, stdio: ["ignore", "pipe", "pipe"] }),
    async image(tag, config) {
      const base = await store.resolveImage("busybox:latest");
      await store.createImage({ ...base.config, config: { ...(base.config.config ?? {}), ...config } }, { tags: [tag] });
      return tag;
    },
    async cleanup() {
      const ps = await berth(["ps", "-a", "-q", "--no-trunc"]);
      for (const id of ps.stdout.split("\n").filter((l) => l !== "")) await berth(["rm", "-f", "-v", id]);
      // the default network's namespace and pasta stay between runs: prune takes them down
      await berth(["network", "prune", "-f"]);
      const netLeft = networkState(runDir);
      if (netLeft.length > 0) throw new Error(`network prune left behind: ${netLeft.join("; ")}`);
      rmSync(root, { recursive: true, force: true });
      // the store's run dir on tmpfs: rmdir only succeeds when nothing was left in it
      for (const d of [join(runDir, "runc"), runDir]) {
        try {
          rmdirSync(d);
        } catch {
          // not empty (the leak check reports it) or never made
        }
      }
    },
  };
}

/** What berth may leave behind for this store: overlay mounts, runc state, its processes. */
export function leftovers(h: Harness): { mounts: string[]; processes: string[]; runcState: string[] } {
  // a network's namespace (and the shared net dir) lives between commands by design, as
  // Docker's bridge does: not a leak while containers may still start; its pasta is among the
  // processes until cleanup() prunes networks, and network.test.ts checks the mounts after that
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .filter((l) => (l.includes(h.root) || l.includes(h.runDir)) && !l.includes(`${h.runDir}/net`));
  const processes: string[] = [];
  for (const pid of readdirSafe("/proc")) {
    if (!/^[0-9]+$/.test(pid)) continue;
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
    } catch {
      continue;
    }
    // a network's pasta: see mounts above (cleanup() checks that prune took it down)
    if ((cmdline.includes(h.root) || cmdline.includes(h.runDir)) && !cmdline.includes(`${h.runDir}/net/`)) processes.push(`${pid} ${cmdline}`);
  }
  const runcState = readdirSafe(join(h.runDir, "runc"));
  return { mounts, processes, runcState };
}

/** What a store's networks hold on the host: nsfs (and net dir) mounts, pasta/slirp4netns processes. */
export function networkState(runDir: string): string[] {
  const out = readFileSync("/proc/mounts", "utf8").split("\n").filter((l) => l.includes(`${runDir}/net`));
  for (const pid of readdirSafe("/proc")) {
    if (!/^[0-9]+$/.test(pid)) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmdline.includes(`${runDir}/net/`)) out.push(`${pid} ${cmdline}`);
    } catch {
      // gone
    }
  }
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Poll until `fn` returns a value (not undefined) or time runs out. */
export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The body of an HTTP GET (a published port, a container's server). */
export function httpGet(host: string, port: number, path = "/"): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve(body));
    });
    req.on("error", reject);
    req.end();
  });
}

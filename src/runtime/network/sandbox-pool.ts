import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tryAcquireFlock, type HeldLock } from "../../sys/flock.js";
import { runRoot } from "../../sys/run-root.js";
import { isServing, processRef } from "../container/record.js";
import { RuntimeError } from "../errors.js";
import { runProgram } from "../exec-file.js";
import { hostBinaryPath } from "../runc.js";
import { PASTA_CLOSED, PASTA_DNS, SLIRP_DNS, said, type EgressStack } from "./egress.js";
import { isNamespaceMount, shareNetDir, startSlirpDaemon, stopEgress } from "./namespace.js";

/**
 * Build sandboxes kept between builds, as BuildKit's daemon keeps a pool of network namespaces:
 * making one (a namespace, pasta's start-up) costs more than a small build's RUN, and berth has
 * no daemon to keep one warm. So a sandbox, once made, stays: its namespace bind-mounted at
 * `<pool>/<n>/ns` and its user-space stack running (recorded in egress.json), until `berth
 * builder prune` or a reboot. A build leases one for its whole run with a flock on
 * `<pool>/<n>/lock` — the kernel drops it when the build ends or dies, SIGKILL included — so a
 * sandbox serves one build at a time; builds running at once take different ones, up to
 * POOL_SIZE (beyond, the caller makes a throw-away one).
 *
 * What a build can leave in a namespace: nothing that lasts without its processes (they die
 * with their containers) and nothing of its configuration, which a step cannot change without
 * CAP_NET_ADMIN. A build that ran a step with every capability (RUN --security=insecure) on it
 * returns it `tainted`, and it is taken down. A sandbox made with another stack or DNS relay
 * than a build asks for is made again.
 */
/** The pool's directory: $BERTH_SANDBOX_POOL when it names one (absolute), else sandbox/ in the run root. */
export function sandboxPool(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const dir = env.BERTH_SANDBOX_POOL;
  return dir !== undefined && dir.startsWith("/") ? dir : join(runRoot(env), "sandbox");
}
const POOL_SIZE = 8;

export interface SandboxSpec {
  stack: EgressStack;
  /** A DNS relay inside the namespace (see EgressOptions.dnsRelay). */
  dnsRelay: boolean;
}

export interface LeasedSandbox {
  /** The namespace's path, for runc. */
  netns: string;
  /** The DNS relay's address inside it, when it has one. */
  nameserver: string | undefined;
  /** Why it is not usable any more (its stack died), or undefined. */
  broken(): string | undefined;
  /** Gives it back (taken down first when `tainted`). */
  release(options?: { tainted?: boolean }): Promise<void>;
}

interface Made extends SandboxSpec {
  nameserver: string | undefined;
}

function readMade(dir: string): Made | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, "ready"), "utf8")) as Made;
  } catch {
    return undefined;
  }
}

function egressRef(dir: string) {
  try {
    return JSON.parse(readFileSync(join(dir, "egress.json"), "utf8")) as { pid: number; startTicks: number };
  } catch {
    return undefined;
  }
}

/** Whether the sandbox in `dir` is whole: made for `spec`, its namespace mounted, its stack alive. */
function usable(dir: string, spec: SandboxSpec): Made | undefined {
  const made = readMade(dir);
  if (made === undefined || made.stack !== spec.stack || made.dnsRelay !== spec.dnsRelay) return undefined;
  if (!isNamespaceMount(join(dir, "ns")) || !isServing(egressRef(dir))) return undefined;
  return made;
}

/**
 * Leases a sandbox of the pool, made (or mended) when needed; undefined when every one is in
 * use by another build.
 */
export async function leaseSandbox(spec: SandboxSpec, pool: string = sandboxPool()): Promise<LeasedSandbox | undefined> {
  for (let n = 0; n < POOL_SIZE; n++) {
    const dir = join(pool, String(n));
    mkdirSync(dir, { recursive: true });
    const lock = await tryAcquireFlock(join(dir, "lock"));
    if (lock === undefined) continue;
    try {
      const made = usable(dir, spec) ?? (await remake(pool, dir, spec));
      return lease(dir, made, lock);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }
  return undefined;
}

function lease(dir: string, made: Made, lock: HeldLock): LeasedSandbox {
  const ref = egressRef(dir);
  let released = false;
  return {
    netns: join(dir, "ns"),
    nameserver: made.nameserver,
    broken: () => (isServing(ref) ? undefined : `${made.stack} exited`),
    async release(options = {}) {
      if (released) return;
      released = true;
      try {
        if (options.tainted === true) await takeDown(dir);
      } finally {
        await lock.release();
      }
    },
  };
}

/** Takes down what `dir` holds, then makes a namespace and its stack there. */
async function remake(pool: string, dir: string, spec: SandboxSpec): Promise<Made> {
  await takeDown(dir);
  // the pool dir is a shared mount: the containers' mount namespaces (slaves of the host's,
  // see inMountNamespace) see a sandbox's unmount and do not pin its namespace
  await shareNetDir(pool);
  const nsPath = join(dir, "ns");
  writeFileSync(nsPath, "");
  const r = await runProgram("unshare", [`--net=${nsPath}`, "true"]);
  if (r.code !== 0) {
    await takeDown(dir);
    throw new RuntimeError(`could not create a network namespace (unshare --net): ${r.stderr.trim()}`);
  }
  try {
    const pid = spec.stack === "pasta" ? await startPasta(dir, spec) : await startSlirpDaemon(join(dir, "ns"), join(dir, "egress.log"));
    const ref = processRef(pid);
    if (ref === undefined) throw new RuntimeError(`${spec.stack} exited as it started`);
    writeFileSync(join(dir, "egress.json"), JSON.stringify(ref));
    const made: Made = { ...spec, nameserver: spec.stack === "slirp4netns" ? SLIRP_DNS : spec.dnsRelay ? PASTA_DNS : undefined };
    writeFileSync(join(dir, "ready"), JSON.stringify(made));
    return made;
  } catch (err) {
    await takeDown(dir);
    throw err;
  }
}

/** pasta as a daemon of its own (no --foreground): it returns once the namespace is configured. */
async function startPasta(dir: string, spec: SandboxSpec): Promise<number> {
  if (hostBinaryPath("pasta") === null) throw new RuntimeError("pasta is not installed: the outside is reached through pasta (Debian's passt) or slirp4netns (apt-get install passt slirp4netns)");
  const pidFile = join(dir, "egress.pid");
  rmSync(pidFile, { force: true });
  const args = [
    // as root, pasta changes to nobody unless told, and nobody cannot open the namespace
    "--runas", "0",
    "--config-net",
    "--netns", join(dir, "ns"),
    "--netns-only",
    ...PASTA_CLOSED,
    ...(spec.dnsRelay ? ["--dns-forward", PASTA_DNS] : []),
    "--ipv4-only",
    "--quiet",
    "--pid", pidFile,
  ];
  const r = await runProgram("pasta", args);
  if (r.code !== 0) throw new RuntimeError(`pasta could not set up the network: ${said(r.stderr)}`);
  return Number(readFileSync(pidFile, "utf8").trim());
}


/** Stops the stack and unmounts the namespace in `dir` (the caller holds its lock). */
async function takeDown(dir: string): Promise<void> {
  rmSync(join(dir, "ready"), { force: true });
  await stopEgress(dir);
  const nsPath = join(dir, "ns");
  if (isNamespaceMount(nsPath)) {
    const r = await runProgram("umount", [nsPath]);
    if (r.code !== 0 && isNamespaceMount(nsPath)) throw new RuntimeError(`unmounting ${nsPath} failed: ${r.stderr.trim()}`);
  }
  for (const f of ["egress.json", "egress.pid", "egress.log", "ns"]) rmSync(join(dir, f), { force: true });
}

/** `berth builder prune`: takes down the sandboxes no build is using; returns how many. */
export async function pruneSandboxes(pool: string = sandboxPool()): Promise<number> {
  if (!existsSync(pool)) return 0;
  let n = 0;
  for (const name of readdirSync(pool)) {
    if (!/^\d+$/.test(name)) continue;
    const dir = join(pool, name);
    const lock = await tryAcquireFlock(join(dir, "lock"));
    if (lock === undefined) continue;
    try {
      if (existsSync(join(dir, "ns"))) n++;
      await takeDown(dir);
      rmSync(dir, { recursive: true, force: true });
    } finally {
      await lock.release();
    }
  }
  return n;
}

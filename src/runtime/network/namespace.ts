import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { acquireFlock } from "../../sys/flock.js";
import { RuntimeError } from "../errors.js";
import { runProgram } from "../exec-file.js";
import { isAlive, isServing, processRef, type ProcessRef } from "../container/record.js";
import { hostBinaryPath } from "../runc.js";
import { chooseEgressStack, PASTA_CLOSED, said } from "./egress.js";
import { parseCidr } from "./records.js";
import type { NetworkRecord } from "./records.js";

/**
 * A bridge network's home: one network namespace berth creates (bind-mounted at
 * `<run dir>/net/<id12>/ns`, so it outlives the command that made it), holding
 *   - `br0`, a Linux bridge with the network's gateway address: containers' veths join it;
 *   - `tap0`, the user-space stack's interface (pasta, or slirp4netns), the way out;
 *   - NAT (masquerade) from the subnet out of tap0, by iptables run inside the namespace.
 * Nothing of it exists in the host's namespace: the bridge, the veths and the private
 * addresses are only ever made inside it (or inside a container's). The host's loopback stays
 * out of reach: pasta runs with --no-map-gw and no namespace-to-host port forwarding.
 *
 * Made on first use, under a flock, and checked cheaply on every use (a marker file written
 * last, the nsfs mount, the egress process); a dead egress is restarted, a half-made namespace
 * (a kill -9 during set-up, a reboot) is torn down and made again.
 */
export interface NetworkNamespace {
  dir: string;
  nsPath: string;
  /** where containers' address reservations live (see attach.ts) */
  ipsDir: string;
  bridge: "br0";
  gateway: string;
  prefix: number;
}

const BRIDGE = "br0";
const TAP = "tap0";
/**
 * The nameservers of a container whose host has only loopback ones (unreachable from its
 * namespace): Docker's fallback. (pasta's --dns-forward would reach a loopback resolver, but
 * this pasta then stops forwarding DNS sent to the host's real resolvers: measured, not used.)
 */
export const FALLBACK_NAMESERVERS = ["8.8.8.8", "8.8.4.4"];

export function networkStateDir(runDir: string, network: NetworkRecord): string {
  return join(runDir, "net", network.id.slice(0, 12));
}

function describe(dir: string, network: NetworkRecord): NetworkNamespace {
  return { dir, nsPath: join(dir, "ns"), ipsDir: join(dir, "ips"), bridge: BRIDGE, gateway: network.gateway, prefix: parseCidr(network.subnet).prefix };
}

/** Whether `path` is an nsfs mount (its device differs from its directory's, a plain file's does not). */
export function isNamespaceMount(path: string): boolean {
  try {
    return statSync(path).dev !== statSync(join(path, "..")).dev;
  } catch {
    return false;
  }
}

function egressProcess(dir: string): ProcessRef | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, "egress.json"), "utf8")) as ProcessRef;
  } catch {
    return undefined;
  }
}

function ready(ns: NetworkNamespace): "ready" | "egress-dead" | "broken" {
  if (!existsSync(join(ns.dir, "ready")) || !isNamespaceMount(ns.nsPath)) return "broken";
  return isServing(egressProcess(ns.dir)) ? "ready" : "egress-dead";
}

/**
 * The network's namespace, made (or mended) if needed. `others` are the store's other bridge
 * networks: traffic towards their subnets is rejected inside this namespace (and this one's in
 * theirs), as Docker's isolation chains do; without it, it would leave through pasta to the
 * host's routing, where those subnets do not exist.
 */
export async function ensureNetworkNamespace(runDir: string, network: NetworkRecord, listOthers: () => readonly NetworkRecord[] = () => []): Promise<NetworkNamespace> {
  const ns = describe(networkStateDir(runDir, network), network);
  if (ready(ns) === "ready") return ns;
  mkdirSync(ns.dir, { recursive: true });
  const lock = await acquireFlock(join(ns.dir, "lock"));
  try {
    const state = ready(ns);
    if (state === "ready") return ns;
    if (state === "egress-dead") {
      await startEgress(ns);
      return ns;
    }
    await teardown(ns);
    mkdirSync(ns.ipsDir, { recursive: true });
    await shareNetDir(join(runDir, "net"));
    // read only on this slow path: the fast one above costs no directory listing
    const others = listOthers().filter((o) => o.id !== network.id);
    await makeNamespace(ns, network, others);
    await isolateFromThis(runDir, network, others);
    await startEgress(ns);
    writeFileSync(join(ns.dir, "ready"), "");
    return ns;
  } finally {
    await lock.release();
  }
}

/** The propagation of the mount at `path` (undefined when `path` is not a mount point). */
function propagation(path: string): "shared" | "private" | undefined {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const fields = line.split(" ");
    if (fields[4] !== path) continue;
    const optional = fields.slice(6, fields.indexOf("-"));
    return optional.some((f) => f.startsWith("shared:")) ? "shared" : "private";
  }
  return undefined;
}

/**
 * `<run dir>/net` becomes a shared mount (bound onto itself), as `ip netns` makes /run/netns:
 * containers start in mount namespaces that are its slaves (see inMountNamespace), so when a
 * network's namespace file is unmounted here, their copies go too, and neither the namespace
 * nor a busy file outlives `network rm`.
 */
export async function shareNetDir(netDir: string): Promise<void> {
  mkdirSync(netDir, { recursive: true });
  const current = propagation(netDir);
  if (current === "shared") return;
  const lock = await acquireFlock(join(netDir, ".lock"));
  try {
    const now = propagation(netDir);
    if (now === "shared") return;
    const script = now === undefined ? 'mount --bind "$1" "$1" && mount --make-shared "$1"' : 'mount --make-shared "$1"';
    const r = await runProgram("sh", ["-c", script, "berth-net", netDir]);
    if (r.code !== 0) throw new RuntimeError(`making ${netDir} a shared mount failed: ${r.stderr.trim()}`);
  } finally {
    await lock.release();
  }
}

function rejectRule(subnet: string): string {
  return `FORWARD -i ${BRIDGE} -d ${subnet} -j REJECT --reject-with icmp-net-unreachable`;
}

/** Add this network's subnet to the reject rules of the other networks' namespaces that are up. */
async function isolateFromThis(runDir: string, network: NetworkRecord, others: readonly NetworkRecord[]): Promise<void> {
  await Promise.all(
    others.map(async (other) => {
      const nsPath = join(networkStateDir(runDir, other), "ns");
      if (other.id === network.id || !isNamespaceMount(nsPath)) return;
      const rule = rejectRule(network.subnet);
      await runProgram("nsenter", [`--net=${nsPath}`, "sh", "-c", `iptables -w -C ${rule} 2>/dev/null || iptables -w -A ${rule}`]);
    }),
  );
}

async function makeNamespace(ns: NetworkNamespace, network: NetworkRecord, others: readonly NetworkRecord[]): Promise<void> {
  if (hostBinaryPath("iptables") === null) throw new RuntimeError("bridge networks need iptables (Debian package iptables): berth runs it inside the network's namespace for NAT");
  writeFileSync(ns.nsPath, "");
  // the whole set-up runs inside the new namespace: unshare binds it to the file, then runs it
  const script = [
    "set -e",
    "ip link set lo up",
    `ip link add ${BRIDGE} type bridge`,
    `ip addr add ${network.gateway}/${ns.prefix} dev ${BRIDGE}`,
    `ip link set ${BRIDGE} up`,
    "echo 1 > /proc/sys/net/ipv4/ip_forward",
    `iptables -w -t nat -A POSTROUTING -s ${network.subnet} ! -o ${BRIDGE} -j MASQUERADE`,
    // pasta sends window updates without the ACK flag: conntrack calls them invalid, skips the
    // reverse NAT, and this namespace's own stack would answer them with a reset that kills
    // the container's connection; dropped, the connection carries on
    `iptables -w -A INPUT -i ${TAP} -m conntrack --ctstate INVALID -j DROP`,
    ...others.filter((o) => o.id !== network.id).map((o) => `iptables -w -A ${rejectRule(o.subnet)}`),
  ].join("\n");
  const r = await runProgram("unshare", [`--net=${ns.nsPath}`, "sh", "-c", script]);
  if (r.code !== 0) {
    await teardown(ns);
    throw new RuntimeError(`setting up the network namespace of ${network.name} failed: ${r.stderr.trim()}`);
  }
}

/**
 * Attach the user-space stack to the namespace: pasta (Debian's passt; as root it needs
 * `--runas 0`, or it drops to nobody and cannot open the namespace), else slirp4netns
 * (chooseEgressStack: $BERTH_NETWORK_STACK forces one). Unlike a build's egress (egress.ts,
 * tied to the build's life), this one must outlive the command that starts it: it is left
 * running, recorded in egress.json, until `network rm`.
 */
async function startEgress(ns: NetworkNamespace): Promise<void> {
  const pidFile = join(ns.dir, "egress.pid");
  rmSync(pidFile, { force: true });
  let pid: number;
  const stack = chooseEgressStack();
  if (stack === "pasta" && hostBinaryPath("pasta") !== null) {
    const args = ["--runas", "0", "--config-net", "--netns", ns.nsPath, "-I", TAP, ...PASTA_CLOSED, "-q", "-P", pidFile];
    let r = await runProgram("pasta", args);
    // seen once in a full test run on a loaded machine ("Couldn't switch to pasta
    // namespaces"), never on its own: one more try before giving up
    if (r.code !== 0) r = await new Promise<void>((w) => setTimeout(w, 200)).then(() => runProgram("pasta", args));
    if (r.code !== 0) throw new RuntimeError(`pasta could not attach to the network namespace: ${said(r.stderr)}`);
    pid = Number(readFileSync(pidFile, "utf8").trim());
  } else if (hostBinaryPath("slirp4netns") !== null) {
    pid = await startSlirpDaemon(ns.nsPath, join(ns.dir, "egress.log"));
  } else {
    throw new RuntimeError("bridge networks need pasta (Debian package passt) or slirp4netns for their way out");
  }
  const ref = processRef(pid);
  if (ref === undefined) throw new RuntimeError("the network's user-space stack exited as it started");
  writeFileSync(join(ns.dir, "egress.json"), JSON.stringify(ref));
}

/**
 * slirp4netns as a daemon of its own (a run network's or a pooled build sandbox's way out):
 * started in its own session, it says on a pipe when `tap0` is up in the namespace at `nsPath`;
 * its output goes to `logFile` (a pipe would break, and kill it, once berth exits). Its
 * --enable-sandbox pivots into a mount namespace of its own and detaches the old root, which
 * unmounts every shared mount's copy, and the unmounts would reach the host's (the namespace
 * files under berth's shared dirs): unshare gives it a private mount namespace to do that in.
 * --disable-host-loopback: 10.0.2.2 would be the host's loopback.
 */
export function startSlirpDaemon(nsPath: string, logFile: string): Promise<number> {
  if (hostBinaryPath("slirp4netns") === null) throw new RuntimeError("slirp4netns is not installed: the outside is reached through pasta (Debian's passt) or slirp4netns (apt-get install passt slirp4netns)");
  const log = openSync(logFile, "w");
  return new Promise<number>((resolve, reject) => {
    const child = spawn("unshare", ["--mount", "--propagation", "private", "slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--ready-fd=3", "--netns-type=path", nsPath, TAP], {
      detached: true,
      stdio: ["ignore", log, log, "pipe"],
    });
    const ready = child.stdio[3];
    ready?.once("data", () => {
      child.unref();
      ready.destroy();
      resolve(child.pid as number);
    });
    child.once("error", reject);
    child.once("exit", (code) => reject(new RuntimeError(`slirp4netns could not set up the network (exit ${code}): ${said(readFileSync(logFile, "utf8"))}`)));
  }).finally(() => closeSync(log));
}

export async function stopEgress(dir: string): Promise<void> {
  const ref = egressProcess(dir);
  if (!isAlive(ref) || ref === undefined) return;
  try {
    process.kill(ref.pid, "SIGTERM");
  } catch {
    return;
  }
  // pasta runs in a mount namespace of its own: the namespace file stays busy until it is gone
  for (let i = 0; i < 100 && isAlive(ref); i++) await new Promise((r) => setTimeout(r, 10));
  if (isAlive(ref)) process.kill(ref.pid, "SIGKILL");
  for (let i = 0; i < 100 && isAlive(ref); i++) await new Promise((r) => setTimeout(r, 10));
}

/** Stop the egress, unmount the namespace (every veth and address in it goes with it), clear the state. */
async function teardown(ns: NetworkNamespace): Promise<void> {
  await stopEgress(ns.dir);
  if (isNamespaceMount(ns.nsPath)) {
    const r = await runProgram("umount", [ns.nsPath]);
    if (r.code !== 0 && isNamespaceMount(ns.nsPath)) throw new RuntimeError(`unmounting ${ns.nsPath} failed: ${r.stderr.trim()}`);
  }
  for (const f of ["ready", "egress.json", "egress.pid", "egress.log", "ns"]) rmSync(join(ns.dir, f), { force: true });
  rmSync(ns.ipsDir, { recursive: true, force: true });
}

/** `network rm` and prune: take the namespace down for good (the caller checked that no container uses it). */
export async function removeNetworkNamespace(runDir: string, network: NetworkRecord): Promise<void> {
  const dir = networkStateDir(runDir, network);
  if (existsSync(dir)) {
    const ns = describe(dir, network);
    const lock = await acquireFlock(join(dir, "lock"));
    try {
      await teardown(ns);
      rmSync(dir, { recursive: true, force: true });
    } finally {
      await lock.release();
    }
  }
  // the run dir's net/ (a mount, see shareNetDir) goes with its last network
  const netDir = join(runDir, "net");
  if (!existsSync(netDir)) return;
  const left = (() => {
    try {
      return readdirSync(netDir).filter((f) => f !== ".lock");
    } catch {
      return ["?"];
    }
  })();
  if (left.length > 0) return;
  const netLock = await acquireFlock(join(netDir, ".lock"));
  try {
    if (readdirSync(netDir).some((f) => f !== ".lock")) return;
    if (propagation(netDir) !== undefined) await runProgram("umount", ["-l", netDir]);
    rmSync(join(netDir, ".lock"), { force: true });
    rmdirSync(netDir);
  } catch {
    // a network is being made meanwhile: it keeps the dir
  } finally {
    await netLock.release();
  }
}

/** Whether the network's namespace exists now (for `network inspect` and tests). */
export function networkNamespaceExists(runDir: string, network: NetworkRecord): boolean {
  return isNamespaceMount(join(networkStateDir(runDir, network), "ns"));
}

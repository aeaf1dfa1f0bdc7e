import { closeSync, openSync, readdirSync, readFileSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { acquireFlock } from "../../sys/flock.js";
import { netplugHelper } from "../../sys/addon.js";
import { RuntimeError } from "../errors.js";
import { runProgram } from "../exec-file.js";
import type { OciHook } from "../oci-spec.js";
import { isAlive, liveStatus, processRef, type ProcessRef, type RecordedEndpoint } from "../container/record.js";
import { ensureNetworkNamespace, type NetworkNamespace } from "./namespace.js";
import { ipToNumber, numberToIp, parseCidr, type NetworkRecord } from "./records.js";

/**
 * A container on a bridge network: an address reserved in the network's run dir, and a veth
 * pair made once runc has created the container's network namespace (by an OCI hook, before
 * the container's process runs), or later in a running container's (`network connect`). The
 * pair's ends live in the container's namespace (eth0, eth1…) and the network's (joined to
 * br0); none ever exists in the host's. The container's namespace is runc's own, so it and the
 * veth pairs vanish with the container, whatever kills it.
 */
export type Endpoint = RecordedEndpoint;

/** A reservation's content: what peers need to name this container in their /etc/hosts. */
interface Reservation {
  id: string;
  name: string;
  aliases: string[];
  ip: string;
  hostsFile: string;
  containerDir: string;
  /** the process that started the container (the CLI or the supervisor) */
  holder?: ProcessRef;
}

export interface Attachee {
  id: string;
  name: string;
  aliases: string[];
  hostsFile: string;
  containerDir: string;
}

function readReservations(ipsDir: string): Array<{ file: string; r: Reservation }> {
  let names: string[];
  try {
    names = readdirSync(ipsDir);
  } catch {
    return [];
  }
  const out: Array<{ file: string; r: Reservation }> = [];
  for (const n of names) {
    const file = join(ipsDir, n);
    try {
      out.push({ file, r: JSON.parse(readFileSync(file, "utf8")) as Reservation });
    } catch {
      // being written right now (its writer holds it): counts as taken, see reserve()
    }
  }
  return out;
}

/** A reservation is live while its starter runs, or while its container does (a SIGKILLed supervisor leaves a running container). */
function isLive(r: Reservation): boolean {
  if (isAlive(r.holder)) return true;
  try {
    const record = JSON.parse(readFileSync(join(r.containerDir, "record.json"), "utf8")) as Parameters<typeof liveStatus>[0];
    return record.id === r.id && liveStatus(record) === "running";
  } catch {
    return false;
  }
}

/** The live containers on a network (reservations whose container still runs). */
export function networkMembers(ns: Pick<NetworkNamespace, "ipsDir">): Array<{ id: string; name: string; aliases: string[]; ip: string }> {
  return readReservations(ns.ipsDir)
    .filter(({ r }) => isLive(r))
    .map(({ r }) => ({ id: r.id, name: r.name, aliases: r.aliases, ip: r.ip }));
}

/**
 * Reserve the lowest free address (Docker's order: .2 upwards, the gateway skipped) with an
 * O_EXCL create: no lock, and two starters never get one address. Reservations whose holder
 * and container are both gone (a kill -9, a reboot of a /run on disk) are taken back first;
 * all of them go with `network rm`.
 */
function reserve(ns: NetworkNamespace, network: NetworkRecord, who: Attachee): { ip: string; file: string } {
  const { base, prefix } = parseCidr(network.subnet);
  const size = 2 ** (32 - prefix);
  const gateway = ipToNumber(network.gateway);
  const content: Reservation = { ...who, ip: "", ...(processRef(process.pid) !== undefined ? { holder: processRef(process.pid) } : {}) };
  for (let attempt = 0; attempt < 2; attempt++) {
    const existing = readReservations(ns.ipsDir);
    const taken = new Set<string>();
    for (const { file, r } of existing) {
      // this container's own leftover (a restart after its holder was killed), or a dead one's
      if (r.id === who.id || !isLive(r)) unlinkQuiet(file);
      else taken.add(r.ip);
    }
    for (const n of safeNames(ns.ipsDir)) taken.add(n);
    for (let n = base + 1; n < base + size - 1; n++) {
      if (n === gateway) continue;
      const ip = numberToIp(n);
      if (taken.has(ip)) continue;
      const file = join(ns.ipsDir, ip);
      let fd: number;
      try {
        fd = openSync(file, "wx", 0o644);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
        throw err;
      }
      try {
        writeSync(fd, JSON.stringify({ ...content, ip }));
      } finally {
        closeSync(fd);
      }
      return { ip, file };
    }
  }
  throw new RuntimeError(`no available IPv4 addresses on network ${network.name} (${network.subnet})`);
}

function safeNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function unlinkQuiet(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // gone already
  }
}

/** Make sure the network's namespace is up and reserve an address for the container. */
export async function attachContainer(
  runDir: string,
  network: NetworkRecord,
  who: Attachee,
  listOthers: () => readonly NetworkRecord[] = () => [],
  plug: { ifname: string; defaultRoute: boolean } = { ifname: "eth0", defaultRoute: true },
): Promise<Endpoint> {
  const ns = await ensureNetworkNamespace(runDir, network, listOthers);
  const { ip, file } = reserve(ns, network, who);
  return { network: network.name, networkId: network.id, ip, prefix: ns.prefix, gateway: network.gateway, ...plug, veth: `v${who.id.slice(0, 12)}`, nsPath: ns.nsPath, reservation: file };
}

/**
 * The shell fallback of berth-netplug (native/netplug.c), with its arguments: five per network
 * (IFNAME NETNS PEER ADDR/PREFIX GATEWAY|-), the container's pid in the OCI state on stdin
 * (runc's, or berth's own `{"pid":N}` for a running container). Per network, one `ip` run
 * inside the container's namespace (the pair, its peer made straight in the network's
 * namespace, the address, the route) and one inside the network's (the peer onto the bridge).
 */
const HOOK_SCRIPT = `read -r s || :
p=\${s#*\\"pid\\":}; p=\${p%%[!0-9]*}
plug() {
r=; [ "$5" = - ] || r="route add default via $5"
nsenter --net=/proc/$p/ns/net ip -batch - <<EOF
link add $1 type veth peer name $3 netns $2
addr add $4 dev $1
link set $1 up
$r
EOF
}
while [ $# -ge 5 ]; do
# seen failing once (EINVAL) on a loaded machine, never twice: one more try from a clean slate
plug "$@" || { nsenter --net=/proc/$p/ns/net ip link del $1 2>/dev/null; sleep 0.1; plug "$@"; } || exit 1
nsenter --net=$2 ip link set $3 master br0 up || exit 1
shift 5
done`;

const HOOK_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function plugArgs(endpoints: readonly Endpoint[]): string[] {
  return endpoints.flatMap((ep) => [ep.ifname, ep.nsPath, ep.veth, `${ep.ip}/${ep.prefix}`, ep.defaultRoute ? ep.gateway : "-"]);
}

/** The program that plugs endpoints in: berth-netplug, or the shell hook where it was not built. */
function plugCommand(endpoints: readonly Endpoint[]): { path: string; args: string[] } {
  const helper = netplugHelper();
  if (helper !== undefined) return { path: helper, args: ["berth-netplug", ...plugArgs(endpoints)] };
  return { path: "/bin/sh", args: ["sh", "-c", HOOK_SCRIPT, "berth-network", ...plugArgs(endpoints)] };
}

/**
 * The createRuntime hook that plugs the container into all its networks at once: runc runs it
 * in its own namespaces with the container's state (its pid) on stdin, after creating the
 * container's namespaces and before the process starts.
 */
export function endpointHook(endpoints: readonly Endpoint[]): OciHook {
  const { path, args } = plugCommand(endpoints);
  return { path, args, env: [HOOK_PATH], timeout: 30 };
}

/** Plug an endpoint into a running container (`network connect`): the hook's program, run by berth with the init pid. */
export async function plugRunning(pid: number, endpoint: Endpoint): Promise<void> {
  const { path, args } = plugCommand([endpoint]);
  const r = await runProgram(path, args.slice(1), { input: `{"pid":${pid}}\n` });
  if (r.code !== 0) throw new RuntimeError(`connecting to network ${endpoint.network} failed: ${r.stderr.trim()}`);
}

/**
 * Unplug a running container from a network (`network disconnect`): deleting the veth's end in
 * the network's namespace takes the other end, the container's interface, with it.
 */
export async function unplugRunning(endpoint: Pick<Endpoint, "nsPath" | "veth" | "network">): Promise<void> {
  const r = await runProgram("nsenter", [`--net=${endpoint.nsPath}`, "ip", "link", "del", endpoint.veth]);
  if (r.code !== 0 && !/Cannot find device/.test(r.stderr)) throw new RuntimeError(`disconnecting from network ${endpoint.network} failed: ${r.stderr.trim()}`);
}

/** Point a running container's default route at another of its networks (the one it had was disconnected). */
export async function rerouteRunning(pid: number, endpoint: Pick<Endpoint, "ifname" | "gateway">): Promise<void> {
  await runProgram("nsenter", [`--net=/proc/${pid}/ns/net`, "ip", "route", "replace", "default", "via", endpoint.gateway, "dev", endpoint.ifname]);
}

/** Give the address back (the veth went with the container's namespace). */
export function releaseEndpoint(ep: Pick<Endpoint, "reservation">, id: string): void {
  try {
    const r = JSON.parse(readFileSync(ep.reservation, "utf8")) as Reservation;
    if (r.id !== id) return; // taken back and given to another container meanwhile
  } catch {
    return;
  }
  unlinkQuiet(ep.reservation);
}

export const HOSTS_MARKER = "# berth: containers on network ";

/**
 * Name resolution on a user network: every member's /etc/hosts ends with one line per member
 * (`ip name aliases… shortid`). The files are bind-mounted, so they are rewritten in place
 * (same inode), under the network's lock so that two containers joining at once both end up
 * in every file. Called when a container joins or leaves.
 */
export async function refreshNetworkHosts(runDir: string, network: Pick<NetworkRecord, "name">, ns: Pick<NetworkNamespace, "ipsDir" | "dir">): Promise<void> {
  const lock = await acquireFlock(join(ns.dir, "lock"));
  try {
    const members = readReservations(ns.ipsDir)
      .map(({ r }) => r)
      .filter(isLive)
      .sort((a, b) => ipToNumber(a.ip) - ipToNumber(b.ip));
    const section = `${HOSTS_MARKER}${network.name}\n${members.map((m) => `${m.ip}\t${[...new Set([m.name, ...m.aliases, m.id.slice(0, 12)])].join(" ")}\n`).join("")}`;
    for (const m of members) {
      let text: string;
      try {
        text = readFileSync(m.hostsFile, "utf8");
      } catch {
        continue;
      }
      const at = text.indexOf(`${HOSTS_MARKER}${network.name}\n`);
      const head = at < 0 ? text : text.slice(0, at);
      const rest = at < 0 ? "" : text.slice(at).split("\n").slice(1);
      // keep other networks' sections (a container connected to several)
      const tail = typeof rest === "string" ? "" : dropSection(rest);
      writeFileSync(m.hostsFile, head + section + tail);
    }
  } finally {
    await lock.release();
  }
}

/** Take a network's section out of a container's /etc/hosts (it left the network and runs on). */
export function dropNetworkHosts(hostsFile: string, network: string): void {
  let text: string;
  try {
    text = readFileSync(hostsFile, "utf8");
  } catch {
    return;
  }
  const at = text.indexOf(`${HOSTS_MARKER}${network}\n`);
  if (at < 0) return;
  writeFileSync(hostsFile, text.slice(0, at) + dropSection(text.slice(at).split("\n").slice(1)));
}

/** The lines after this network's section: from the next marker on. */
function dropSection(lines: string[]): string {
  const next = lines.findIndex((l) => l.startsWith(HOSTS_MARKER));
  return next < 0 ? "" : lines.slice(next).join("\n");
}


import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { networkEvent } from "./events.js";
import { acquireFlock } from "../../sys/flock.js";
import { RuntimeError } from "../errors.js";
import { NETWORK_LOCK, PID_FILE, type RuntimeContext } from "../container/context.js";
import { findContainer, listContainers } from "../container/lookup.js";
import { attachedNetworks, isAlive, liveStatus, processRef, readRecord, recordEndpoints, withLiveState, writeRecord, type ContainerRecord } from "../container/record.js";
import { attachContainer, dropNetworkHosts, networkMembers, plugRunning, refreshNetworkHosts, releaseEndpoint, rerouteRunning, unplugRunning } from "./attach.js";
import { networkNamespaceExists, networkStateDir, removeNetworkNamespace } from "./namespace.js";
import { allNetworks, createNetwork, defaultNetwork, listUserNetworks, removeNetworkRecord, SPECIAL_NETWORKS, type NetworkRecord } from "./records.js";

/** One row of `network ls` / one object of `network inspect`: bridges, and the host and none modes. */
export interface NetworkSummary {
  id: string;
  name: string;
  driver: "bridge" | "host" | "null";
  record?: NetworkRecord;
}

function specialId(storeRoot: string, name: string): string {
  return createHash("sha256").update(`berth-${name}:${storeRoot}`).digest("hex");
}

/** `network ls`: bridge, host, none, then the user networks (as Docker lists its predefined ones). */
export function listNetworks(ctx: RuntimeContext): NetworkSummary[] {
  const builtin = defaultNetwork(ctx.store);
  return [
    { id: builtin.id, name: builtin.name, driver: "bridge", record: builtin },
    ...SPECIAL_NETWORKS.map((name) => ({ id: specialId(ctx.store.root, name), name, driver: name === "host" ? ("host" as const) : ("null" as const) })),
    ...listUserNetworks(ctx.store).map((r) => ({ id: r.id, name: r.name, driver: "bridge" as const, record: r })),
  ];
}

function findSummary(ctx: RuntimeContext, ref: string): NetworkSummary {
  const all = listNetworks(ctx);
  const hit = all.find((n) => n.name === ref || n.id === ref) ?? (/^[0-9a-f]+$/.test(ref) ? onlyOne(all.filter((n) => n.id.startsWith(ref))) : undefined);
  if (hit === undefined) throw new RuntimeError(`network ${ref} not found`, { exitCode: 1 });
  return hit;
}

function onlyOne<T>(list: T[]): T | undefined {
  return list.length === 1 ? list[0] : undefined;
}

export async function createUserNetwork(ctx: RuntimeContext, name: string, options: { subnet?: string; gateway?: string; driver?: string; labels?: Record<string, string> }): Promise<NetworkRecord> {
  if (options.driver !== undefined && options.driver !== "bridge") throw new RuntimeError(`unsupported network driver "${options.driver}": berth makes bridge networks`);
  const network = await createNetwork(ctx.store, name, options);
  networkEvent(ctx.store.root, "create", network);
  return network;
}

/** Containers attached to a network: the running ones with their addresses, for `inspect` and `rm`. */
async function containersOn(ctx: RuntimeContext, summary: NetworkSummary): Promise<Array<{ record: ContainerRecord; ip?: string; prefix?: number }>> {
  const records = (await listContainers(ctx))
    .map((c) => c.record)
    .filter((r) => r.state === "running" && (summary.record === undefined ? r.hostConfig.network === summary.name : attachedNetworks(r.hostConfig).some((a) => a.name === summary.name)));
  if (summary.record === undefined) return records.map((record) => ({ record }));
  const members = networkMembers({ ipsDir: join(networkStateDir(ctx.runDir, summary.record), "ips") });
  const out: Array<{ record: ContainerRecord; ip?: string; prefix?: number }> = [];
  for (const m of members) {
    const record = records.find((r) => r.id === m.id);
    const ep = record === undefined ? undefined : recordEndpoints(record).find((e) => e.network === summary.name);
    if (record !== undefined) out.push({ record, ip: m.ip, ...(ep !== undefined ? { prefix: ep.prefix } : {}) });
  }
  // running per its record, not yet in the reservations (starting)
  for (const r of records) if (!out.some((o) => o.record.id === r.id)) out.push({ record: r });
  return out;
}

/** `network inspect`: Docker's JSON shape. */
export async function inspectNetwork(ctx: RuntimeContext, ref: string): Promise<Record<string, unknown>> {
  const n = findSummary(ctx, ref);
  const containers: Record<string, unknown> = {};
  for (const { record, ip, prefix } of await containersOn(ctx, n)) {
    containers[record.id] = { Name: record.name, EndpointID: "", MacAddress: "", IPv4Address: ip !== undefined ? `${ip}/${prefix ?? 16}` : "", IPv6Address: "" };
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.record?.created ?? "1970-01-01T00:00:00Z",
    Scope: "local",
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: { Driver: "default", Options: {}, Config: n.record !== undefined ? [{ Subnet: n.record.subnet, Gateway: n.record.gateway }] : [] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containers,
    Options: n.record?.builtin === true ? { "com.docker.network.bridge.default_bridge": "true" } : {},
    Labels: n.record?.labels ?? {},
    // berth's own: whether the network's namespace (bridge, NAT, egress) is up now
    ...(n.record !== undefined ? { BerthNamespaceUp: networkNamespaceExists(ctx.runDir, n.record) } : {}),
  };
}

/** `network rm`: refused while a container runs on it (Docker: "has active endpoints"); predefined ones are refused. */
export async function removeUserNetwork(ctx: RuntimeContext, ref: string): Promise<void> {
  const n = findSummary(ctx, ref);
  if (n.record === undefined || n.record.builtin === true) throw new RuntimeError(`${n.name} is a pre-defined network and cannot be removed`);
  const users = await containersOn(ctx, n);
  if (users.length > 0) {
    throw new RuntimeError(`error while removing network: network ${n.name} id ${n.id} has active endpoints (${users.map((u) => u.record.name).join(", ")})`);
  }
  await removeNetworkNamespace(ctx.runDir, n.record);
  removeNetworkRecord(ctx.store, n.record);
  networkEvent(ctx.store.root, "destroy", n.record);
}

/**
 * `network prune`: remove the user networks no container uses (running or not, as Docker
 * keeps a network a stopped container names), and take down the default network's namespace
 * and egress when no container runs on it (the next `run` makes them again).
 */
export async function pruneNetworks(ctx: RuntimeContext): Promise<string[]> {
  const all = (await listContainers(ctx)).map((c) => c.record);
  const removed: string[] = [];
  for (const n of listUserNetworks(ctx.store)) {
    if (all.some((r) => r.hostConfig.network === n.name || attachedNetworks(r.hostConfig).some((a) => a.name === n.name))) continue;
    await removeNetworkNamespace(ctx.runDir, n);
    removeNetworkRecord(ctx.store, n);
    networkEvent(ctx.store.root, "destroy", n);
    removed.push(n.name);
  }
  const builtin = defaultNetwork(ctx.store);
  if ((await containersOn(ctx, { id: builtin.id, name: builtin.name, driver: "bridge", record: builtin })).length === 0) {
    await removeNetworkNamespace(ctx.runDir, builtin);
  }
  return removed;
}

/** The running container's init pid: in its record, or (a foreground run records none) in runc's pid file. */
async function initPid(dir: string, record: ContainerRecord): Promise<number> {
  if (record.pid !== undefined && isAlive(record.pid)) return record.pid.pid;
  for (let i = 0; i < 500; i++) {
    const text = readFileSafe(join(dir, PID_FILE)).trim();
    const ref = /^[0-9]+$/.test(text) ? processRef(Number(text)) : undefined;
    if (ref !== undefined) return ref.pid;
    if (liveStatus(record) !== "running") break;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new RuntimeError(`container ${record.name} is not running`, { exitCode: 1 });
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

// Docker's words (moby runconfig/errors.go)
const SHARED_NETWORK = "container sharing network namespace with another container or host cannot be connected to any other network";
const HOST_NETWORK = "container cannot be disconnected from host network or connected to host network";
const NO_NETWORK = "container cannot be connected to multiple networks with one of the networks in private (none) mode";

/**
 * `network connect NET CONTAINER [--alias A]`: the container joins NET beside its other
 * networks. A stopped one gets it at its next start; a running one at once: a veth pair plugged
 * into its namespace (ethN, the lowest free), an address on NET, its name in the /etc/hosts of
 * NET's members and theirs in its own. The default route stays where it is (on the container's
 * first network), unless it had none.
 */
export async function connectContainer(ctx: RuntimeContext, netRef: string, containerRef: string, options: { aliases?: string[] } = {}): Promise<void> {
  const n = findSummary(ctx, netRef);
  const { dir } = await findContainer(ctx, containerRef);
  const lock = await acquireFlock(join(dir, NETWORK_LOCK));
  try {
    const record = withLiveState(await readRecord(dir));
    const host = record.hostConfig;
    if (host.network === "host") throw new RuntimeError(SHARED_NETWORK);
    if (n.name === "host") throw new RuntimeError(HOST_NETWORK);
    if (n.name === "none" || ["none", "private"].includes(host.network)) throw new RuntimeError(NO_NETWORK);
    const network = n.record;
    if (network === undefined) throw new RuntimeError(`network ${n.name} not found`, { exitCode: 1 });
    const aliases = options.aliases ?? [];
    if (aliases.length > 0 && network.builtin === true) throw new RuntimeError("network-scoped alias is supported only for containers in user defined networks");
    const current = attachedNetworks(host);
    if (current.some((a) => a.name === network.name)) throw new RuntimeError(`endpoint with name ${record.name} already exists in network ${network.name}`);
    const networks = [...current, { name: network.name, ...(aliases.length > 0 ? { aliases } : {}) }];
    if (record.state !== "running") {
      await writeRecord(dir, { ...record, hostConfig: { ...host, networks } });
      networkEvent(ctx.store.root, "connect", network, record.id);
      return;
    }
    const pid = await initPid(dir, record);
    const endpoints = record.endpoints ?? [];
    const taken = new Set(endpoints.map((e) => e.ifname));
    let index = 0;
    while (taken.has(`eth${index}`)) index++;
    const endpoint = await attachContainer(
      ctx.runDir,
      network,
      { id: record.id, name: record.name, aliases, hostsFile: join(dir, "hosts"), containerDir: dir },
      () => allNetworks(ctx.store),
      { ifname: `eth${index}`, defaultRoute: !endpoints.some((e) => e.defaultRoute) },
    );
    try {
      await plugRunning(pid, endpoint);
    } catch (err) {
      releaseEndpoint(endpoint, record.id);
      throw err;
    }
    await writeRecord(dir, { ...record, hostConfig: { ...host, networks }, endpoints: [...endpoints, endpoint] });
    networkEvent(ctx.store.root, "connect", network, record.id);
    if (network.builtin !== true) await refreshNetworkHosts(ctx.runDir, network, { dir: dirname(endpoint.nsPath), ipsDir: dirname(endpoint.reservation) });
  } finally {
    await lock.release();
  }
}

/**
 * `network disconnect NET CONTAINER`: the container leaves NET. A running one loses the
 * interface at once (and its default route moves to another of its networks, if it has one);
 * NET's members lose its name, and it theirs. A container left with no network has loopback only.
 */
export async function disconnectContainer(ctx: RuntimeContext, netRef: string, containerRef: string): Promise<void> {
  const n = findSummary(ctx, netRef);
  const { dir } = await findContainer(ctx, containerRef);
  const lock = await acquireFlock(join(dir, NETWORK_LOCK));
  try {
    const record = withLiveState(await readRecord(dir));
    const host = record.hostConfig;
    if (n.name === "host" || host.network === "host") throw new RuntimeError(HOST_NETWORK);
    const current = attachedNetworks(host);
    if (!current.some((a) => a.name === n.name)) throw new RuntimeError(`container ${record.id} is not connected to network ${n.name}`);
    const networks = current.filter((a) => a.name !== n.name);
    if (record.state !== "running") {
      await writeRecord(dir, { ...record, hostConfig: { ...host, networks } });
      networkEvent(ctx.store.root, "disconnect", n, record.id);
      return;
    }
    const endpoints = record.endpoints ?? [];
    const leaving = endpoints.find((e) => e.network === n.name);
    const staying = endpoints.filter((e) => e !== leaving);
    if (leaving !== undefined) {
      await unplugRunning(leaving);
      releaseEndpoint(leaving, record.id);
      dropNetworkHosts(join(dir, "hosts"), n.name);
      const next = staying[0];
      if (leaving.defaultRoute && next !== undefined) {
        staying[0] = { ...next, defaultRoute: true };
        await rerouteRunning(await initPid(dir, record), next);
      }
    }
    await writeRecord(dir, { ...record, hostConfig: { ...host, networks }, endpoints: staying });
    networkEvent(ctx.store.root, "disconnect", n, record.id);
    if (leaving !== undefined && n.record !== undefined && n.record.builtin !== true) {
      await refreshNetworkHosts(ctx.runDir, n.record, { dir: dirname(leaving.nsPath), ipsDir: dirname(leaving.reservation) });
    }
  } finally {
    await lock.release();
  }
}

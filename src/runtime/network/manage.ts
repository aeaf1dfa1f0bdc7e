import { createHash } from "node:crypto";
import { RuntimeError } from "../errors.js";
import type { RuntimeContext } from "../container/context.js";
import { findContainer, listContainers } from "../container/lookup.js";
import { writeRecord, type ContainerRecord } from "../container/record.js";
import { networkMembers } from "./attach.js";
import { networkNamespaceExists, networkStateDir, removeNetworkNamespace } from "./namespace.js";
import { createNetwork, defaultNetwork, listUserNetworks, removeNetworkRecord, SPECIAL_NETWORKS, type NetworkRecord } from "./records.js";
import { join } from "node:path";

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
  const builtin = defaultNetwork(ctx.store.root);
  return [
    { id: builtin.id, name: builtin.name, driver: "bridge", record: builtin },
    ...SPECIAL_NETWORKS.map((name) => ({ id: specialId(ctx.store.root, name), name, driver: name === "host" ? ("host" as const) : ("null" as const) })),
    ...listUserNetworks(ctx.store.root).map((r) => ({ id: r.id, name: r.name, driver: "bridge" as const, record: r })),
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
  return createNetwork(ctx.store.root, name, options);
}

/** Containers attached to a network: the running ones with their addresses, for `inspect` and `rm`. */
async function containersOn(ctx: RuntimeContext, summary: NetworkSummary): Promise<Array<{ record: ContainerRecord; ip?: string; prefix?: number }>> {
  const records = (await listContainers(ctx)).map((c) => c.record).filter((r) => r.state === "running" && r.hostConfig.network === summary.name);
  if (summary.record === undefined) return records.map((record) => ({ record }));
  const members = networkMembers({ ipsDir: join(networkStateDir(ctx.runDir, summary.record), "ips") });
  const out: Array<{ record: ContainerRecord; ip?: string; prefix?: number }> = [];
  for (const m of members) {
    const record = records.find((r) => r.id === m.id);
    if (record !== undefined) out.push({ record, ip: m.ip, ...(record.endpoint !== undefined ? { prefix: record.endpoint.prefix } : {}) });
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
  removeNetworkRecord(ctx.store.root, n.record);
}

/**
 * `network prune`: remove the user networks no container uses (running or not, as Docker
 * keeps a network a stopped container names), and take down the default network's namespace
 * and egress when no container runs on it (the next `run` makes them again).
 */
export async function pruneNetworks(ctx: RuntimeContext): Promise<string[]> {
  const all = (await listContainers(ctx)).map((c) => c.record);
  const removed: string[] = [];
  for (const n of listUserNetworks(ctx.store.root)) {
    if (all.some((r) => r.hostConfig.network === n.name)) continue;
    await removeNetworkNamespace(ctx.runDir, n);
    removeNetworkRecord(ctx.store.root, n);
    removed.push(n.name);
  }
  const builtin = defaultNetwork(ctx.store.root);
  if ((await containersOn(ctx, { id: builtin.id, name: builtin.name, driver: "bridge", record: builtin })).length === 0) {
    await removeNetworkNamespace(ctx.runDir, builtin);
  }
  return removed;
}

/**
 * `network connect NET CONTAINER` / `disconnect`: a berth container has one network, set
 * while it is not running: connect moves it from the default bridge (or none) to NET,
 * disconnect puts it on none. Running containers are refused (not supported yet).
 */
export async function connectContainer(ctx: RuntimeContext, netRef: string, containerRef: string, options: { aliases?: string[]; disconnect?: boolean; force?: boolean } = {}): Promise<void> {
  const n = findSummary(ctx, netRef);
  const { dir, record } = await findContainer(ctx, containerRef);
  if (record.state === "running") {
    throw new RuntimeError(`container ${record.name} is running: berth changes a container's network only while it is stopped`);
  }
  const host = record.hostConfig;
  if (options.disconnect === true) {
    if (host.network !== n.name) throw new RuntimeError(`container ${record.name} is not connected to network ${n.name}`);
    const next = { ...host, network: "none" };
    delete next.networkAliases;
    await writeRecord(dir, { ...record, hostConfig: next });
    return;
  }
  if (host.network === n.name) throw new RuntimeError(`endpoint with name ${record.name} already exists in network ${n.name}`);
  if (!["bridge", "none", "private"].includes(host.network)) {
    throw new RuntimeError(`container ${record.name} is on network ${host.network}: berth containers have one network (disconnect it first)`);
  }
  if ((options.aliases ?? []).length > 0 && (n.record === undefined || n.record.builtin === true)) {
    throw new RuntimeError("network-scoped aliases are only supported for user-defined networks");
  }
  if (n.record === undefined) throw new RuntimeError(`container cannot be disconnected from host network or connected to ${n.name} network (use run --network ${n.name})`);
  await writeRecord(dir, { ...record, hostConfig: { ...host, network: n.name, ...((options.aliases ?? []).length > 0 ? { networkAliases: options.aliases } : {}) } });
}

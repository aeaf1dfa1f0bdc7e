import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { RuntimeError } from "../errors.js";
import { writeFileAtomic } from "../container/record.js";

/** A bridge network: its record in the store (`<networks dir>/<id>.json`). */
export interface NetworkRecord {
  id: string;
  name: string;
  driver: "bridge";
  /** IPv4 CIDR, e.g. 172.18.0.0/16 */
  subnet: string;
  gateway: string;
  created: string;
  labels: Record<string, string>;
  /** the pre-defined default network (`bridge`): no name resolution between its containers, as Docker's */
  builtin?: boolean;
}

/** Network modes that are not networks of their own: what `network ls` lists beside the bridges. */
export const SPECIAL_NETWORKS = ["host", "none"] as const;
export const DEFAULT_NETWORK = "bridge";
/** Docker's default bridge subnet (docker0). It lives only inside berth's namespace, so it cannot clash with the host's. */
const DEFAULT_SUBNET = "172.17.0.0/16";

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Where network records live: the store's networks directory; the store's root identifies the default network. */
export interface NetworkHome {
  readonly root: string;
  networksDir(): string;
}

/** The default `bridge` network: fixed, never written, with an ID derived from the store (stable across commands). */
export function defaultNetwork(store: NetworkHome): NetworkRecord {
  return {
    id: createHash("sha256").update(`berth-default-bridge:${store.root}`).digest("hex"),
    name: DEFAULT_NETWORK,
    driver: "bridge",
    subnet: DEFAULT_SUBNET,
    gateway: "172.17.0.1",
    created: "1970-01-01T00:00:00Z",
    labels: {},
    builtin: true,
  };
}

/** The user networks (not the default one), oldest first. */
export function listUserNetworks(store: NetworkHome): NetworkRecord[] {
  let names: string[];
  try {
    names = readdirSync(store.networksDir());
  } catch {
    return [];
  }
  const out: NetworkRecord[] = [];
  for (const f of names) {
    if (!f.endsWith(".json")) continue;
    try {
      out.push(JSON.parse(readFileSync(join(store.networksDir(), f), "utf8")) as NetworkRecord);
    } catch {
      // a record being written: not there yet
    }
  }
  // by creation, then name: networks made within one millisecond keep a stable order
  return out.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Every bridge network of the store: the default one, then the user networks. */
export function allNetworks(store: NetworkHome): NetworkRecord[] {
  return [defaultNetwork(store), ...listUserNetworks(store)];
}

/** Find a bridge network by name, full ID or unique ID prefix (Docker's lookup order); `bridge` is the default one. */
export function findNetwork(store: NetworkHome, ref: string): NetworkRecord {
  const builtin = defaultNetwork(store);
  if (ref === builtin.name || ref === builtin.id) return builtin;
  const all = listUserNetworks(store);
  const byName = all.find((n) => n.name === ref) ?? all.find((n) => n.id === ref);
  if (byName !== undefined) return byName;
  const byPrefix = /^[0-9a-f]+$/.test(ref) ? [builtin, ...all].filter((n) => n.id.startsWith(ref)) : [];
  if (byPrefix.length === 1 && byPrefix[0] !== undefined) return byPrefix[0];
  throw new RuntimeError(`network ${ref} not found`, { exitCode: 1 });
}

/** Parse `a.b.c.d/n` into its network address and prefix length. */
export function parseCidr(cidr: string): { base: number; prefix: number } {
  const m = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\/([0-9]{1,2})$/.exec(cidr.trim());
  if (m === null) throw new RuntimeError(`invalid subnet "${cidr}": want an IPv4 CIDR such as 172.20.0.0/16`);
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix < 8 || prefix > 30) throw new RuntimeError(`invalid subnet "${cidr}": want an IPv4 CIDR with a prefix length from 8 to 30`);
  const addr = ipToNumber(octets.join("."));
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (addr & mask) >>> 0, prefix };
}

export function ipToNumber(ip: string): number {
  return ip.split(".").reduce((n, o) => n * 256 + Number(o), 0) >>> 0;
}

export function numberToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  const prefix = Math.min(x.prefix, y.prefix);
  const mask = (0xffffffff << (32 - prefix)) >>> 0;
  return ((x.base & mask) >>> 0) === ((y.base & mask) >>> 0);
}

/**
 * `berth network create`: a record only; its namespace, bridge and egress are made when the
 * first container starts on it. Subnets default to Docker's pools (172.18-31.0.0/16, then
 * 192.168.N.0/20) and never overlap another network of this store's.
 */
export async function createNetwork(store: NetworkHome, name: string, options: { subnet?: string; gateway?: string; labels?: Record<string, string> } = {}): Promise<NetworkRecord> {
  if (!NAME.test(name)) throw new RuntimeError(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  if (name === DEFAULT_NETWORK || (SPECIAL_NETWORKS as readonly string[]).includes(name)) {
    throw new RuntimeError(`operation is not permitted on predefined ${name} network`);
  }
  const existing = [defaultNetwork(store), ...listUserNetworks(store)];
  if (existing.some((n) => n.name === name)) throw new RuntimeError(`network with name ${name} already exists`);
  let subnet: string;
  if (options.subnet !== undefined) {
    const { base, prefix } = parseCidr(options.subnet);
    subnet = `${numberToIp(base)}/${prefix}`;
    const clash = existing.find((n) => overlaps(n.subnet, subnet));
    if (clash !== undefined) throw new RuntimeError(`invalid pool request: Pool overlaps with other one on this address space (${clash.name}: ${clash.subnet})`);
  } else {
    const pool = [...Array.from({ length: 14 }, (_, i) => `172.${18 + i}.0.0/16`), ...Array.from({ length: 16 }, (_, i) => `192.168.${i * 16}.0/20`)];
    const free = pool.find((p) => !existing.some((n) => overlaps(n.subnet, p)));
    if (free === undefined) throw new RuntimeError("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network");
    subnet = free;
  }
  const { base, prefix } = parseCidr(subnet);
  const gateway = options.gateway ?? numberToIp(base + 1);
  const gw = ipToNumber(gateway);
  const size = 2 ** (32 - prefix);
  if (!/^[0-9.]+$/.test(gateway) || gw <= base || gw >= base + size - 1) throw new RuntimeError(`invalid gateway ${gateway}: not a host address of ${subnet}`);
  const record: NetworkRecord = {
    id: randomBytes(32).toString("hex"),
    name,
    driver: "bridge",
    subnet,
    gateway,
    created: new Date().toISOString(),
    labels: options.labels ?? {},
  };
  mkdirSync(store.networksDir(), { recursive: true });
  await writeFileAtomic(join(store.networksDir(), `${record.id}.json`), JSON.stringify(record, null, 1));
  return record;
}

export function removeNetworkRecord(store: NetworkHome, record: NetworkRecord): void {
  unlinkSync(join(store.networksDir(), `${record.id}.json`));
}

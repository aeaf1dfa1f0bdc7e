import { readFileSync } from "node:fs";
import { BlockList, isIP } from "node:net";

/** The hostname of a build step (BuildKit's executor/oci/hosts.go). */
export const BUILD_HOSTNAME = "buildkitsandbox";

/**
 * /etc/hosts as BuildKit writes it for a build step, whatever its network: localhost and the
 * hostname on 127.0.0.1, localhost on ::1, then any extra `host ip` entries (--add-host).
 */
export function buildkitHosts(hostname: string = BUILD_HOSTNAME, extraHosts: readonly { host: string; ip: string }[] = []): string {
  let text = `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`;
  for (const h of extraHosts) text += `${h.ip}\t${h.host}\n`;
  return text;
}

export interface ResolvConfOptions {
  /**
   * The container shares the host's network namespace: the host's nameservers, loopback ones
   * included, work there and are kept (BuildKit's host network mode) unless there are none.
   */
  hostNetwork?: boolean;
  /** The namespace has IPv6 egress: IPv6 nameservers are kept (default false). */
  ipv6?: boolean;
  /**
   * Nameservers for a file with none left once loopback (and, without ipv6, IPv6) ones are
   * removed: a relay inside the namespace (Egress.nameserver). Default: Docker's, 8.8.8.8 and
   * 8.8.4.4 (and Google's IPv6 pair with ipv6).
   */
  fallback?: readonly string[];
}

const DEFAULT_IPV4_NAMESERVERS = ["8.8.8.8", "8.8.4.4"];
const DEFAULT_IPV6_NAMESERVERS = ["2001:4860:4860::8888", "2001:4860:4860::8844"];

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

/** 127.0.0.0/8 or ::1, in any spelling (IPv4-mapped ones too, as Go's netip). */
function isLoopback(addr: string): boolean {
  const bare = addr.replace(/%.*$/, "");
  return loopback.check(bare, isIP(bare) === 6 ? "ipv6" : "ipv4");
}

/** The nameservers of a resolv.conf text, as moby parses them (an address it cannot parse is dropped). */
function nameserversOf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === "nameserver" && fields[1] !== undefined && isIP(fields[1].replace(/%.*$/, "")) !== 0) out.push(fields[1]);
  }
  return out;
}

/** The nameservers that work outside the host's namespace: not loopback, and IPv6 ones only with ipv6. */
function reachable(nameservers: readonly string[], ipv6: boolean): string[] {
  return nameservers.filter((n) => !isLoopback(n) && (ipv6 || isIP(n.replace(/%.*$/, "")) !== 6));
}

/**
 * Whether a namespace of its own needs a DNS relay (Egress's dnsRelay) for this host
 * resolv.conf: none of its nameservers works outside the host's namespace.
 */
export function needsDnsRelay(hostText: string | undefined, options: { ipv6?: boolean } = {}): boolean {
  return reachable(nameserversOf(hostText ?? ""), options.ipv6 === true).length === 0;
}

/**
 * A container's resolv.conf from the host's text, as moby's resolvconf package makes it for
 * BuildKit (GetResolvConf: Parse, TransformForLegacyNw unless host network, Generate without
 * comments): comments and blank lines dropped; nameservers that only work in the host's
 * namespace (loopback; IPv6 ones without ipv6) removed unless hostNetwork; when none is left,
 * the fallback; then `search` (the last one), `options` (all), and other lines as they were.
 */
export function containerResolvConf(hostText: string, options: ResolvConfOptions = {}): string {
  const ipv6 = options.ipv6 === true;
  let nameservers = nameserversOf(hostText);
  let search: string[] = [];
  const opts: string[] = [];
  const other: string[] = [];
  for (const line of hostText.split("\n")) {
    const fields = line.trim().split(/\s+/).filter(Boolean);
    const first = fields[0];
    if (first === undefined || first.startsWith("#") || first.startsWith(";")) continue;
    switch (first) {
      case "nameserver":
        break;
      case "domain":
      case "search":
        if (fields.length >= 2) search = fields.slice(1);
        break;
      case "options":
        opts.push(...fields.slice(1));
        break;
      default:
        other.push(line);
    }
  }
  if (options.hostNetwork !== true || nameservers.length === 0) {
    nameservers = reachable(nameservers, ipv6);
    if (nameservers.length === 0) nameservers = [...(options.fallback ?? (ipv6 ? [...DEFAULT_IPV4_NAMESERVERS, ...DEFAULT_IPV6_NAMESERVERS] : DEFAULT_IPV4_NAMESERVERS))];
  }
  let text = nameservers.map((n) => `nameserver ${n}\n`).join("");
  if (search.length > 0) text += `search ${search.join(" ")}\n`;
  if (opts.length > 0) text += `options ${opts.join(" ")}\n`;
  if (other.length > 0) text += `${other.join("\n")}\n`;
  return text;
}

/**
 * The host's resolv.conf to start from (moby's resolvconf.Path): /etc/resolv.conf, except when
 * systemd-resolved's stub (127.0.0.53) is its only nameserver and not the host's network: then
 * the file with the upstream servers resolved uses. undefined when the host has none.
 */
export function readHostResolvConf(options: { hostNetwork?: boolean } = {}): string | undefined {
  const read = (path: string): string | undefined => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
  };
  const main = read("/etc/resolv.conf");
  if (options.hostNetwork === true || main === undefined) return main;
  const servers = main
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[0] === "nameserver" && f[1] !== undefined)
    .map((f) => f[1]);
  if (servers.length === 1 && servers[0] === "127.0.0.53") return read("/run/systemd/resolve/resolv.conf") ?? main;
  return main;
}

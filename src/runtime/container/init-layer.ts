import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, writeFileSync, type Stats } from "node:fs";
import { join } from "node:path";
import type { MountRequest, NetworkMode } from "../spec.js";
import { containerResolvConf, readHostResolvConf } from "../network/etc-files.js";

/** Paths the runtime mounts over: their stubs live in the init layer, never in the rw layer. */
const STUB_DIRS = ["proc", "sys", "dev", "etc"];
const STUB_FILES = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];

/**
 * Docker's "-init" layer: a thin layer between the image and the container's rw layer that
 * holds the mount points runc needs (/proc, /sys, /dev, /etc/hosts, /etc/hostname,
 * /etc/resolv.conf). Without it runc would create them in the rw layer, and `diff` and
 * `commit` would show files the user never made. Directories copy the image's owner and
 * mode (the topmost layer's attributes win in overlayfs).
 */
export async function prepareInitLayer(containerDir: string, image: readonly string[]): Promise<string> {
  // synchronous calls: a dozen tiny operations, each far cheaper than a thread-pool round trip
  const init = join(containerDir, "init");
  const made: string[] = [];
  for (const d of STUB_DIRS) {
    // an image whose /etc (or /dev …) is a symlink keeps it: a stub dir would hide the link
    const top = topmostEntry(image, d);
    if (top?.isSymbolicLink() === true) continue;
    const target = join(init, d);
    mkdirSync(target, { recursive: true });
    if (top?.isDirectory() === true) {
      chownSync(target, top.uid, top.gid);
      chmodSync(target, top.mode & 0o7777);
    }
    made.push(d);
  }
  for (const f of STUB_FILES) if (made.includes(f.split("/")[0] as string)) writeFileSync(join(init, f), "", { flag: "a" });
  return init;
}

function topmostEntry(layers: readonly string[], name: string): Stats | undefined {
  for (const layer of layers) {
    try {
      return lstatSync(join(layer, name));
    } catch {
      // not in this layer
    }
  }
  return undefined;
}

/** What a container's /etc/hosts, /etc/hostname and /etc/resolv.conf say. */
export interface NetworkFileOptions {
  hostname: string;
  network: NetworkMode;
  /** the container's address on its bridge network */
  ip?: string;
  /** --add-host entries, `host:ip` */
  extraHosts?: string[];
  /** --dns: nameservers instead of the host's */
  dns?: string[];
  dnsSearch?: string[];
  /** the nameservers to use when the host has only loopback ones */
  fallbackNameservers?: string[];
}

function hostFile(path: string, fallback: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

/**
 * The container's resolv.conf, as Docker makes it (moby's rules, network/etc-files.ts): the
 * host's without the nameservers only its own namespace can reach (loopback), Docker's
 * fallback when none is left; `--dns` replaces the nameservers and `--dns-search` the search
 * domains. On the host's network the host's nameservers stay as they are.
 */
export function resolvConf(hostText: string, options: Pick<NetworkFileOptions, "dns" | "dnsSearch" | "fallbackNameservers"> & { hostNetwork?: boolean }): string {
  let text = hostText;
  if (options.dns !== undefined && options.dns.length > 0) {
    text = [...options.dns.map((d) => `nameserver ${d}`), ...text.split("\n").filter((l) => !/^\s*nameserver\b/.test(l))].join("\n");
  }
  if (options.dnsSearch !== undefined && options.dnsSearch.length > 0) {
    text = [...text.split("\n").filter((l) => !/^\s*(search|domain)\b/.test(l)), `search ${options.dnsSearch.join(" ")}`].join("\n");
  }
  return containerResolvConf(text, {
    ...(options.hostNetwork === true ? { hostNetwork: true } : {}),
    ...(options.fallbackNameservers !== undefined ? { fallback: options.fallbackNameservers } : {}),
  });
}

/**
 * The files Docker bind-mounts into every container: /etc/hostname, /etc/hosts naming the
 * container (its address on its network; --add-host entries), /etc/resolv.conf; for the host
 * network the host's /etc/hosts and resolv.conf.
 */
export async function networkFiles(containerDir: string, options: NetworkFileOptions): Promise<MountRequest[]> {
  const hostsFile = join(containerDir, "hosts");
  const hostnameFile = join(containerDir, "hostname");
  const resolv = join(containerDir, "resolv.conf");
  const extra = (options.extraHosts ?? []).map((h) => {
    const sep = h.indexOf(":");
    return `${h.slice(sep + 1)}\t${h.slice(0, sep)}\n`;
  });
  // synchronous: three small files (see prepareInitLayer)
  writeFileSync(hostnameFile, `${options.hostname}\n`);
  if (options.network === "host") {
    writeFileSync(hostsFile, hostFile("/etc/hosts", "127.0.0.1\tlocalhost\n") + extra.join(""));
    const hostResolv = readHostResolvConf({ hostNetwork: true }) ?? "";
    writeFileSync(resolv, options.dns !== undefined || options.dnsSearch !== undefined ? resolvConf(hostResolv, { ...options, hostNetwork: true }) : hostResolv);
  } else {
    writeFileSync(
      hostsFile,
      `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n${extra.join("")}${options.ip ?? "127.0.1.1"}\t${options.hostname}\n`,
    );
    writeFileSync(resolv, resolvConf(readHostResolvConf() ?? "", options));
  }
  return [
    { type: "bind", source: resolv, destination: "/etc/resolv.conf" },
    { type: "bind", source: hostsFile, destination: "/etc/hosts" },
    { type: "bind", source: hostnameFile, destination: "/etc/hostname" },
  ];
}

import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, writeFileSync, type Stats } from "node:fs";
import { join } from "node:path";
import type { MountRequest, NetworkMode } from "../spec.js";

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

/**
 * The files Docker bind-mounts into every container: /etc/hostname and /etc/hosts naming the
 * container, and for the host network the host's /etc/hosts and /etc/resolv.conf.
 */
export async function networkFiles(containerDir: string, options: { hostname: string; network: NetworkMode }): Promise<MountRequest[]> {
  const hostsFile = join(containerDir, "hosts");
  const hostnameFile = join(containerDir, "hostname");
  const mounts: MountRequest[] = [];
  const hostFile = (path: string, fallback: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return fallback;
    }
  };
  // synchronous: two or three small files (see prepareInitLayer)
  writeFileSync(hostnameFile, `${options.hostname}\n`);
  if (options.network === "host") {
    const resolv = join(containerDir, "resolv.conf");
    writeFileSync(hostsFile, hostFile("/etc/hosts", "127.0.0.1\tlocalhost\n"));
    writeFileSync(resolv, hostFile("/etc/resolv.conf", ""));
    mounts.push({ type: "bind", source: resolv, destination: "/etc/resolv.conf" });
  } else {
    writeFileSync(
      hostsFile,
      `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t${options.hostname}\n`,
    );
  }
  mounts.push({ type: "bind", source: hostsFile, destination: "/etc/hosts" }, { type: "bind", source: hostnameFile, destination: "/etc/hostname" });
  return mounts;
}

import { chmod, chown, lstat, mkdir, readFile, writeFile } from "node:fs/promises";
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
  const init = join(containerDir, "init");
  const made = await Promise.all(
    STUB_DIRS.map(async (d) => {
      // an image whose /etc (or /dev …) is a symlink keeps it: a stub dir would hide the link
      const top = await topmostEntry(image, d);
      if (top?.isSymbolicLink() === true) return undefined;
      const target = join(init, d);
      await mkdir(target, { recursive: true });
      if (top?.isDirectory() === true) await Promise.all([chown(target, top.uid, top.gid), chmod(target, top.mode & 0o7777)]);
      return d;
    }),
  );
  await Promise.all(STUB_FILES.filter((f) => made.includes(f.split("/")[0])).map((f) => writeFile(join(init, f), "", { flag: "a" })));
  return init;
}

async function topmostEntry(layers: readonly string[], name: string) {
  for (const layer of layers) {
    const st = await lstat(join(layer, name)).catch(() => undefined);
    if (st !== undefined) return st;
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
  const writes: Array<Promise<void>> = [writeFile(hostnameFile, `${options.hostname}\n`)];
  if (options.network === "host") {
    const resolv = join(containerDir, "resolv.conf");
    writes.push(
      readFile("/etc/hosts", "utf8").catch(() => "127.0.0.1\tlocalhost\n").then((t) => writeFile(hostsFile, t)),
      readFile("/etc/resolv.conf", "utf8").catch(() => "").then((t) => writeFile(resolv, t)),
    );
    mounts.push({ type: "bind", source: resolv, destination: "/etc/resolv.conf" });
  } else {
    writes.push(
      writeFile(
        hostsFile,
        `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t${options.hostname}\n`,
      ),
    );
  }
  await Promise.all(writes);
  mounts.push({ type: "bind", source: hostsFile, destination: "/etc/hosts" }, { type: "bind", source: hostnameFile, destination: "/etc/hostname" });
  return mounts;
}

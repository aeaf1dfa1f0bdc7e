import { chmod, chown, lstat, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { resolveInRootfs } from "../lookpath.js";
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
  const skipped = new Set<string>();
  for (const d of STUB_DIRS) {
    // an image whose /etc (or /dev …) is a symlink keeps it: a stub dir would hide the link
    if ((await topmostEntry(image, d))?.isSymbolicLink() === true) {
      skipped.add(d);
      continue;
    }
    const target = join(init, d);
    await mkdir(target, { recursive: true });
    const inImage = await resolveInRootfs(image, `/${d}`);
    const st = inImage === undefined ? undefined : await stat(inImage).catch(() => undefined);
    if (st?.isDirectory() === true) {
      await chown(target, st.uid, st.gid);
      await chmod(target, st.mode & 0o7777);
    }
  }
  for (const f of STUB_FILES) if (!skipped.has(f.split("/")[0] as string)) await writeFile(join(init, f), "", { flag: "a" });
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
  if (options.network === "host") {
    await writeFile(hostsFile, await readFile("/etc/hosts", "utf8").catch(() => "127.0.0.1\tlocalhost\n"));
    const resolv = join(containerDir, "resolv.conf");
    await writeFile(resolv, await readFile("/etc/resolv.conf", "utf8").catch(() => ""));
    mounts.push({ type: "bind", source: resolv, destination: "/etc/resolv.conf" });
  } else {
    await writeFile(
      hostsFile,
      `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t${options.hostname}\n`,
    );
  }
  await writeFile(hostnameFile, `${options.hostname}\n`);
  mounts.push({ type: "bind", source: hostsFile, destination: "/etc/hosts" }, { type: "bind", source: hostnameFile, destination: "/etc/hostname" });
  return mounts;
}

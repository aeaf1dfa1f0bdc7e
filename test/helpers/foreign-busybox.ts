import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { busyboxRootfs } from "./busybox.js";

const CACHE = "/tmp/berth-test-base";

/**
 * A busybox rootfs tarball for a foreign architecture (Debian's `arch`, e.g. arm64) made from
 * Debian's busybox-static for it: `dpkg --add-architecture`, `apt-get update` (once),
 * `apt-get download busybox-static:<arch>`, `dpkg -x`; the applet links are the host busybox's
 * (the same Debian version). Made once per machine under /tmp, through a temp name.
 */
export function foreignBusyboxTarball(arch: string): string {
  const tarball = join(CACHE, `busybox-${arch}-rootfs.tar`);
  if (existsSync(tarball)) return tarball;
  mkdirSync(CACHE, { recursive: true });
  const work = mkdtempSync(join(CACHE, `.tmp-${arch}-`));
  try {
    const foreign = execFileSync("dpkg", ["--print-foreign-architectures"], { encoding: "utf8" }).split("\n");
    if (!foreign.includes(arch)) {
      execFileSync("dpkg", ["--add-architecture", arch]);
      execFileSync("apt-get", ["update", "-qq"], { stdio: "ignore" });
    }
    execFileSync("apt-get", ["download", "-qq", `busybox-static:${arch}`], { cwd: work, stdio: "ignore" });
    const deb = readdirSync(work).find((f) => f.endsWith(".deb"));
    if (deb === undefined) throw new Error(`apt-get download busybox-static:${arch} gave no .deb`);
    const extracted = join(work, "x");
    execFileSync("dpkg", ["-x", join(work, deb), extracted]);
    // the host's rootfs (applet links, /etc files), with the foreign binary in place of busybox
    const rootfs = join(work, "rootfs");
    execFileSync("cp", ["-a", busyboxRootfs(), rootfs]);
    rmSync(join(rootfs, "bin/busybox"));
    copyFileSync(join(extracted, "bin/busybox"), join(rootfs, "bin/busybox"));
    chmodSync(join(rootfs, "bin/busybox"), 0o755);
    const tmp = join(work, "rootfs.tar");
    execFileSync("tar", ["-C", rootfs, "--numeric-owner", "-cf", tmp, "."]);
    renameSync(tmp, tarball);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return tarball;
}

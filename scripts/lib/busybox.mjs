import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";

/**
 * Base images without a registry (tests and the demo): a busybox rootfs made from Debian's busybox-static
 * (one symlink per applet), built once per machine under /tmp and shared by test files.
 * Creation goes through a temp dir and a rename, so parallel test workers never see half a tree.
 */
const CACHE = "/tmp/berth-test-base";

export const BUSYBOX = "/bin/busybox";

export function hasBusybox() {
  return existsSync(BUSYBOX);
}

/** A directory holding a busybox root filesystem (do not modify it: copy it). */
export function busyboxRootfs() {
  const dir = join(CACHE, "busybox-rootfs");
  if (existsSync(dir)) return dir;
  mkdirSync(CACHE, { recursive: true });
  const tmp = mkdtempSync(join(CACHE, ".tmp-"));
  for (const d of ["bin", "dev", "etc", "proc", "sys", "tmp", "root", "var", "home", "usr/bin", "usr/sbin", "sbin"]) {
    mkdirSync(join(tmp, d), { recursive: true });
  }
  chmodSync(join(tmp, "tmp"), 0o1777);
  copyFileSync(BUSYBOX, join(tmp, "bin/busybox"));
  chmodSync(join(tmp, "bin/busybox"), 0o755);
  const applets = execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" }).split("\n").filter((a) => a && a !== "busybox");
  for (const applet of applets) {
    const link = join(tmp, "bin", applet);
    if (!existsSync(link)) symlinkSync("busybox", link);
  }
  execFileSync("sh", ["-c", `
    printf 'root:x:0:0:root:/root:/bin/sh\\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\\napp:x:1000:1000:app:/home/app:/bin/sh\\n' > "$1/etc/passwd"
    printf 'root:x:0:\\nnogroup:x:65534:\\napp:x:1000:\\n' > "$1/etc/group"
    mkdir -p "$1/home/app" && chown 1000:1000 "$1/home/app"
  `, "sh", tmp]);
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another worker won the race
  }
  return dir;
}

/** A tarball of the busybox rootfs, as `berth import` takes it. */
export function busyboxTarball() {
  const tarball = join(CACHE, "busybox-rootfs.tar");
  if (existsSync(tarball)) return tarball;
  const rootfs = busyboxRootfs();
  const tmp = `${tarball}.${process.pid}.tmp`;
  execFileSync("tar", ["-C", rootfs, "--numeric-owner", "-cf", tmp, "."]);
  renameSync(tmp, tarball);
  return tarball;
}

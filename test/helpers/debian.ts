import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

const CACHE = "/tmp/berth-test-base";
const MIRROR = process.env.BERTH_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";

/**
 * A minimal Debian rootfs tarball (debootstrap --variant=minbase bookworm), made once per
 * machine and kept in /tmp/berth-test-base; `why` instead when debootstrap is missing or cannot
 * reach the mirror (the tests that need it skip and say so).
 */
export function debianTarball(): { tarball?: string; why?: string } {
  const tarball = join(CACHE, "debian-bookworm-minbase.tar");
  if (existsSync(tarball)) return { tarball };
  if (!existsSync("/usr/sbin/debootstrap")) return { why: "debootstrap is not installed" };
  mkdirSync(CACHE, { recursive: true });
  const tmp = mkdtempSync(join(CACHE, ".deb-"));
  try {
    const r = spawnSync("debootstrap", ["--variant=minbase", "bookworm", join(tmp, "root"), MIRROR], { encoding: "utf8", timeout: 240_000 });
    if (r.status !== 0) return { why: `debootstrap could not reach ${MIRROR}: ${(r.stderr || r.stdout).trim().split("\n").slice(-2).join(" ")}` };
    execFileSync("tar", ["--numeric-owner", "--xattrs", "-cf", join(tmp, "root.tar"), "-C", join(tmp, "root"), "."]);
    renameSync(join(tmp, "root.tar"), tarball);
    return { tarball };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Whether Debian's mirror answers from this machine (its bookworm Release file, 10 s at most):
 * undefined when it does, else why not (the tests that install packages skip and say so).
 */
export async function debianMirrorUnreachable(): Promise<string | undefined> {
  const url = `${MIRROR}/dists/bookworm/Release`;
  try {
    const res = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(10_000) });
    return res.ok ? undefined : `${url} answered ${res.status}`;
  } catch (err) {
    return `${url} is unreachable: ${(err as Error).message}`;
  }
}

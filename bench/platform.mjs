#!/usr/bin/env node
// `npm run bench:platform`: cold builds of the small and layers-20 workloads (bench/lib/workloads.mjs)
// native (linux/amd64), emulated (--platform linux/arm64: every RUN through qemu-aarch64-static)
// and both in one command (--platform linux/amd64,linux/arm64: an image index), medians of
// BENCH_COLD_RUNS builds with --no-cache. The arm64 base is Debian's busybox-static:arm64
// (test/helpers/foreign-busybox.ts's tarball, made by the platform test). When a Docker daemon
// answers, BuildKit builds the same natively and emulated beside it. Needs root and the QEMU
// handlers (`berth system binfmt --install`).
import { execFileSync, spawnSync } from "node:child_process";
import { createReadStream, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { workloads } from "./lib/workloads.mjs";

const repo = new URL("..", import.meta.url).pathname;
const { openStore } = await import(join(repo, "dist/store/index.js"));
const { importRootfs } = await import(join(repo, "dist/image/index.js"));
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 3);
const AMD64 = "/tmp/berth-test-base/busybox-rootfs.tar";
const ARM64 = "/tmp/berth-test-base/busybox-arm64-rootfs.tar";
if (!existsSync(AMD64) || !existsSync(ARM64)) throw new Error(`${AMD64} and ${ARM64} are missing: run test/integration/build/platform.test.ts once`);
const entry = join(repo, "bin/berth");
const base = `/tmp/berth-bench-platform-${process.pid}`;

function timed(cmd, args, env = {}) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stderr}`);
  return (performance.now() - t0) / 1000;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cold = (build) => median(Array.from({ length: COLD_RUNS }, () => build(["--no-cache"])));

function dockerAvailable() {
  return spawnSync("/usr/bin/docker", ["info"], { stdio: "ignore" }).status === 0;
}
const docker = dockerAvailable();
const dockerImages = new Set();
const dockerBuild = (args) => {
  const t0 = performance.now();
  const r = spawnSync("/usr/bin/docker", ["build", "-q", "--network", "none", ...args], { encoding: "utf8", env: { ...process.env, DOCKER_BUILDKIT: "1" } });
  if (r.status !== 0) throw new Error(`docker build ${args.join(" ")} failed:\n${r.stderr}`);
  dockerImages.add(r.stdout.trim());
  return (performance.now() - t0) / 1000;
};

const rows = [];
try {
  for (const name of ["small", "layers-20"]) {
    const ctx = join(base, "ctx", name);
    mkdirSync(ctx, { recursive: true });
    workloads[name](ctx);
    const root = join(base, "stores", name);
    const store = await openStore(root);
    const amd = await importRootfs(store, createReadStream(AMD64), { source: "busybox.tar", tag: "bb:amd64" });
    const arm = await importRootfs(store, createReadStream(ARM64), { source: "busybox-arm64.tar", tag: "bb:arm64", platform: { os: "linux", architecture: "arm64" } });
    // a multi-platform base for the build of both platforms at once
    await store.createImageIndex([amd, arm], ["bb:multi"]);
    await store.close();
    if (docker && !dockerImages.has("bases")) {
      // Docker's import leaves the architecture amd64 (BuildKit then looks for an arm64 base in
      // Docker Hub): the bases go over as berth saves them
      const archive = join(base, "bases.tar");
      execFileSync(entry, ["--root", root, "tag", "bb:amd64", "berth-bench-bb:amd64"]);
      execFileSync(entry, ["--root", root, "tag", "bb:arm64", "berth-bench-bb:arm64"]);
      execFileSync(entry, ["--root", root, "save", "-o", archive, "berth-bench-bb:amd64", "berth-bench-bb:arm64"]);
      execFileSync("/usr/bin/docker", ["load", "-q", "-i", archive]);
      dockerImages.add("bases");
    }
    const berth = (platform, baseArg) => (extra) => timed(entry, ["--root", root, "build", "-q", ...extra, "--platform", platform, "--build-arg", `BASE=${baseArg}`, ctx]);
    const row = { name };
    row.native = cold(berth("linux/amd64", "bb:amd64"));
    row.arm64 = cold(berth("linux/arm64", "bb:arm64"));
    // one command, both platforms, side by side (the base picked per platform from bb:multi)
    row.both = cold(berth("linux/amd64,linux/arm64", "bb:multi"));
    if (docker) {
      row.bkNative = cold((extra) => dockerBuild([...extra, "--platform", "linux/amd64", "--build-arg", "BASE=berth-bench-bb:amd64", ctx]));
      row.bkArm64 = cold((extra) => dockerBuild([...extra, "--platform", "linux/arm64", "--build-arg", "BASE=berth-bench-bb:arm64", ctx]));
    }
    rows.push(row);
    console.log(JSON.stringify(row));
  }
} finally {
  if (docker) {
    for (const id of dockerImages) if (id !== "bases") spawnSync("/usr/bin/docker", ["rmi", "-f", id], { stdio: "ignore" });
    spawnSync("/usr/bin/docker", ["rmi", "berth-bench-bb:amd64", "berth-bench-bb:arm64"], { stdio: "ignore" });
  }
  rmSync(base, { recursive: true, force: true });
}
const f = (s) => (s === undefined ? "-" : `${s.toFixed(2)} s`);
console.log(`\ncold builds, medians of ${COLD_RUNS} (${docker ? "BuildKit beside" : "no Docker daemon: berth alone"})`);
console.log(["workload", "amd64", "arm64 (QEMU)", "both at once", ...(docker ? ["BK amd64", "BK arm64 (QEMU)"] : [])].map((h) => h.padEnd(17)).join(""));
for (const r of rows) console.log([r.name, f(r.native), f(r.arm64), f(r.both), ...(docker ? [f(r.bkNative), f(r.bkArm64)] : [])].map((h) => h.padEnd(17)).join(""));

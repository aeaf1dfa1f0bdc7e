#!/usr/bin/env node
// `npm run bench:build`: berth build on five workloads — small, many-files, big-run,
// multi-stage, layers-20 — each as a cold build (base image present, empty cache), a no-op
// rebuild and a rebuild after one COPYed file changed; plus the per-RUN-step overhead and the
// peak memory of the many-files cold build. Store and contexts live on a journaled ext4 loop
// mount (the root ext4 here has no journal and delays inode reuse). When Docker is installed and
// its daemon answers, the same builds run with BuildKit (`DOCKER_BUILDKIT=1 docker build
// --network none`) side by side; otherwise berth runs alone.
// Needs root (mount, runc). Runs `npm run build` and `npm run bundle` when dist/ is missing.
// BENCH_BASELINE=<another built berth checkout> times that checkout's bin/berth beside this one
// (its rows marked "baseline"; a store of its own per workload): before/after in one run.
// BENCH_ONLY=small,layers-20,per-run picks workloads. Where the user of scripts/rootless-user.sh
// exists (bench/lib/rootless.mjs; BENCH_ROOTLESS=0 leaves it out), this checkout's builds also
// run as that user (rows marked "rootless", stores of the user's own).
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, copyFileSync, createReadStream, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { rootlessUser, stopRootless } from "./lib/rootless.mjs";
import { workloads, write } from "./lib/workloads.mjs";

const repo = new URL("..", import.meta.url).pathname;
if (!existsSync(join(repo, "dist/cli/main.js")) || !existsSync(join(repo, "dist/bundle/main.cjs"))) execFileSync("npm", ["run", "build"], { cwd: repo, stdio: "inherit" });
const { openStore } = await import(join(repo, "dist/store/index.js"));
const { importRootfs } = await import(join(repo, "dist/image/index.js"));

const ONLY = process.env.BENCH_ONLY?.split(",");
const BASELINE = process.env.BENCH_BASELINE;
const NOOP_RUNS = Number(process.env.BENCH_NOOP_RUNS ?? 5);
// one-file-change rebuilds: medians of this many (they vary by tens of ms on a busy machine)
const CHANGE_RUNS = Number(process.env.BENCH_CHANGE_RUNS ?? 5);
// cold builds: medians of this many (the first on an empty cache, the others --no-cache)
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 3);
// per-RUN overhead: rounds of a FROM-only build and a 20-RUN build
const PER_RUN_ROUNDS = Number(process.env.BENCH_PER_RUN_ROUNDS ?? 5);
const base = `/tmp/berth-bench-build-${process.pid}`;
const img = `${base}.img`;
const mnt = `${base}.mnt`;

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { stdio: ["ignore", "pipe", "inherit"], ...opts });
}

/** busybox-static as a rootfs tarball (as test/helpers/busybox.ts makes it). */
function busyboxTarball(dir) {
  const cached = "/tmp/berth-test-base/busybox-rootfs.tar";
  if (existsSync(cached)) return cached;
  const root = join(dir, "bb-rootfs");
  for (const d of ["bin", "dev", "etc", "proc", "sys", "tmp", "root", "var", "home", "usr/bin", "usr/sbin", "sbin"]) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, "tmp"), 0o1777);
  copyFileSync("/bin/busybox", join(root, "bin/busybox"));
  chmodSync(join(root, "bin/busybox"), 0o755);
  for (const a of execFileSync("/bin/busybox", ["--list"], { encoding: "utf8" }).split("\n")) if (a && a !== "busybox" && !existsSync(join(root, "bin", a))) symlinkSync("busybox", join(root, "bin", a));
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  const tar = join(dir, "busybox-rootfs.tar");
  sh("tar", ["--numeric-owner", "-cf", tar, "-C", root, "."]);
  return tar;
}

/** Seconds `cmd args` took; as the rootless user (`as`: { uid, gid, env }) when given. */
function timed(cmd, args, env = {}, as = undefined) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...(as?.env ?? process.env), ...env }, ...(as !== undefined ? { uid: as.uid, gid: as.gid } : {}) });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stderr}`);
  return s;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Docker with a daemon that answers and a CLI that can drive BuildKit (newer CLIs need buildx). */
/** `docker system df`'s size of the build cache. */
function buildCacheSize() {
  const r = spawnSync("/usr/bin/docker", ["system", "df", "--format", "{{.Type}}\t{{.Size}}"], { encoding: "utf8" });
  return (r.stdout ?? "").split("\n").find((l) => l.startsWith("Build Cache"))?.split("\t")[1] ?? "unknown";
}

function dockerAvailable() {
  if (!existsSync("/usr/bin/docker")) return false;
  if (spawnSync("/usr/bin/docker", ["info"], { stdio: "ignore" }).status !== 0) return false;
  const r = spawnSync("/usr/bin/docker", ["build", "-q", "-"], { input: "FROM scratch\nLABEL berth.bench.probe=1\n", encoding: "utf8", env: { ...process.env, DOCKER_BUILDKIT: "1" } });
  if (r.status !== 0) return false;
  spawnSync("/usr/bin/docker", ["rmi", r.stdout.trim()], { stdio: "ignore" });
  return true;
}

// Docker side: its own base tag (never clobber a user's busybox:latest) and every image the
// bench builds, removed at the end.
const DOCKER_BASE = "berth-bench-busybox:latest";
const dockerImages = new Set();

mkdirSync(mnt, { recursive: true });
sh("truncate", ["-s", "8G", img]);
sh("mkfs.ext4", ["-q", "-F", "-O", "has_journal", img]);
sh("mount", ["-o", "loop", img, mnt]);
const results = [];
/** [entry suffix, per-RUN overhead on the sandbox network, with --network none] */
const perRun = [];
let bkPerRun;
let peakKb;
const docker = dockerAvailable();
const rootless = rootlessUser();
/** The rootless user's stores (one prunes its builds' sandboxes at the end). */
const rootlessStores = [];
try {
  // bin/berth run as an executable, as users run it: its shebang is part of start-up (it defers
  // NODE_EXTRA_CA_CERTS, which `node bin/berth` would parse at start, ~60 ms where it is set)
  const entry = join(repo, "bin/berth");
  /** [row suffix, bin/berth, the rootless user to run it as or undefined] */
  const entries = [
    ["", entry, undefined],
    ...(BASELINE !== undefined ? [[" (baseline)", join(BASELINE, "bin/berth"), undefined]] : []),
    ...(rootless !== undefined ? [[" (rootless)", entry, rootless]] : []),
  ];
  const tarball = busyboxTarball(mnt);
  if (docker) sh("/usr/bin/docker", ["import", tarball, DOCKER_BASE]);
  const timedBerth = (bin, as) => (root, args) => timed(bin, ["--root", root, ...args], {}, as);
  /** A store with the base image: a rootless user's own, imported as that user. */
  const storeWithBase = async (root, bin, as) => {
    if (as !== undefined) {
      mkdirSync(root, { recursive: true });
      chownSync(root, as.uid, as.gid);
      timed(bin, ["--root", root, "import", tarball, "busybox"], {}, as);
      rootlessStores.push(root);
      return;
    }
    const store = await openStore(root);
    await importRootfs(store, createReadStream(tarball), { source: "busybox.tar", tag: "busybox" });
    await store.close(); // its lease's file would keep the loop mount busy
  };
  /** `docker build ARGS` with BuildKit and the bench's base as BASE: seconds. */
  const dockerBuild = (args) => {
    const t0 = performance.now();
    const r = spawnSync("/usr/bin/docker", [...args, "--build-arg", `BASE=${DOCKER_BASE}`], { encoding: "utf8", env: { ...process.env, DOCKER_BUILDKIT: "1" } });
    const s = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`docker ${args.join(" ")} failed:\n${r.stderr}`);
    dockerImages.add(r.stdout.trim());
    return s;
  };

  for (const [name, make] of Object.entries(workloads)) {
    if (ONLY && !ONLY.includes(name)) continue;
    const ctx = join(mnt, "ctx", name);
    mkdirSync(ctx, { recursive: true });
    const changeFile = make(ctx);
    sh("sync", []);
    for (const [suffix, bin, as] of entries) {
      const berth = timedBerth(bin, as);
      const root = join(mnt, "stores", name + suffix.replace(/\W/g, ""));
      await storeWithBase(root, bin, as);
      const row = { name: name + suffix };
      if (name === "many-files" && suffix === "") {
        const r = spawnSync("/usr/bin/time", ["-f", "%M", bin, "--root", root, "build", "-q", ctx], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(r.stderr);
        peakKb = Number(r.stderr.trim().split("\n").pop());
        // that was the cold build: measure it again on a fresh cache for the time
        rmSync(join(root, "cache"), { recursive: true, force: true });
        mkdirSync(join(root, "cache"));
        rmSync(join(root, "buildcache"), { recursive: true, force: true });
      }
      // the cold build, then COLD_RUNS-1 more with --no-cache (as BuildKit's below): the median
      const colds = [berth(root, ["build", "-q", ctx])];
      while (colds.length < COLD_RUNS) colds.push(berth(root, ["build", "-q", "--no-cache", ctx]));
      row.cold = median(colds);
      row.noop = median(Array.from({ length: NOOP_RUNS }, () => berth(root, ["build", "-q", ctx])));
      const changes = [];
      for (let i = 0; i < CHANGE_RUNS; i++) {
        writeFileSync(join(ctx, changeFile), `changed ${i} ${Date.now()}\n`);
        changes.push(berth(root, ["build", "-q", ctx]));
      }
      row.change = median(changes);
      if (docker && suffix === "") {
        const d = dockerBuild;
        // --no-cache stands for a cold cache: BuildKit keys a local base by its layers, so results
        // of an earlier bench run would otherwise hit (and pruning would drop the user's cache).
        row.bkCold = median(Array.from({ length: COLD_RUNS }, () => d(["build", "-q", "--no-cache", "--network", "none", ctx])));
        row.bkNoop = median(Array.from({ length: NOOP_RUNS }, () => d(["build", "-q", "--network", "none", ctx])));
        const bc = [];
        for (let i = 0; i < CHANGE_RUNS; i++) {
          writeFileSync(join(ctx, changeFile), `bk changed ${i} ${Date.now()}\n`);
          bc.push(d(["build", "-q", "--network", "none", ctx]));
        }
        row.bkChange = median(bc);
      }
      results.push(row);
      console.log(JSON.stringify(row));
    }
  }

  if (!ONLY || ONLY.includes("per-run")) {
    const c0 = join(mnt, "ctx", "run-0");
    const c20 = join(mnt, "ctx", "run-20");
    write(c0, "Dockerfile", "ARG BASE=busybox\nFROM $BASE\n");
    write(c20, "Dockerfile", "ARG BASE=busybox\nFROM $BASE\n" + "RUN true\n".repeat(20));
    // the two builds alternate (PER_RUN_ROUNDS each), so the machine's slower and faster
    // minutes weigh on both alike; medians
    const perRunOf = (build) => {
      const t0 = [];
      const t20 = [];
      for (let i = 0; i < PER_RUN_ROUNDS; i++) {
        t0.push(build(c0));
        t20.push(build(c20));
      }
      return (median(t20) - median(t0)) / 20;
    };
    // berth's default network is the build's sandbox (its namespace and pasta made once per
    // build); --network none beside it shows what the sandbox costs
    for (const [suffix, bin, as] of entries) {
      const berth = timedBerth(bin, as);
      const root = join(mnt, "stores", "per-run" + suffix.replace(/\W/g, ""));
      await storeWithBase(root, bin, as);
      perRun.push([suffix, perRunOf((c) => berth(root, ["build", "-q", "--no-cache", c])), perRunOf((c) => berth(root, ["build", "-q", "--no-cache", "--network", "none", c]))]);
    }
    // the same for BuildKit (--network none as above: RUN in the host's network needs a flag)
    if (docker) bkPerRun = perRunOf((c) => dockerBuild(["build", "-q", "--no-cache", "--network", "none", c]));
  }
} finally {
  // the holder's mount namespace holds its own copy of the loop mount
  if (rootless !== undefined) stopRootless(rootless, rootlessStores.at(-1));
  if (docker) {
    for (const id of dockerImages) spawnSync("/usr/bin/docker", ["rmi", "-f", id], { stdio: "ignore" });
    spawnSync("/usr/bin/docker", ["rmi", DOCKER_BASE], { stdio: "ignore" });
    // BuildKit keeps a cache record for every --no-cache build (~3 GB a run here: 77 GB filled
    // this machine's disk after a few sessions). It has no way to prune only this run's records:
    // BENCH_PRUNE_BUILDKIT=1 prunes the whole build cache; otherwise the growth is reported.
    if (process.env.BENCH_PRUNE_BUILDKIT === "1") spawnSync("/usr/bin/docker", ["builder", "prune", "-af"], { stdio: "ignore", env: { ...process.env, DOCKER_BUILDKIT: "1" } });
    else console.log(`BuildKit's build cache after this run: ${buildCacheSize()} (BENCH_PRUNE_BUILDKIT=1 prunes it at the end)`);
  }
  spawnSync("umount", [mnt]);
  rmSync(img, { force: true });
  rmSync(mnt, { recursive: true, force: true });
}

const f = (x) => (x === undefined ? "-" : `${x.toFixed(2)} s`);
console.log(`\nberth build (store and contexts on a journaled ext4 loop mount; bin/berth; ${docker ? "BuildKit side by side" : "Docker not installed: berth alone"})`);
console.log(["workload".padEnd(22), "cold", "no-op", "1 file changed", ...(docker ? ["BK cold", "BK no-op", "BK 1 file"] : [])].map((h) => h.padEnd(15)).join(""));
for (const r of results) console.log([r.name.padEnd(22), f(r.cold), f(r.noop), f(r.change), ...(docker ? [f(r.bkCold), f(r.bkNoop), f(r.bkChange)] : [])].map((h) => h.padEnd(15)).join(""));
if (rootless !== undefined) {
  const pairs = results.filter((r) => r.name.endsWith(" (rootless)")).map((r) => [results.find((x) => x.name === r.name.replace(" (rootless)", "")), r]);
  const worst = (k) => Math.max(...pairs.map(([root, rl]) => rl[k] / root[k])).toFixed(2);
  if (pairs.length > 0) console.log(`rootless / root, worst workload: cold ${worst("cold")}x, no-op ${worst("noop")}x, 1 file changed ${worst("change")}x (target ≤ 1.2x)`);
}
for (const [suffix, sandbox, none] of perRun) {
  console.log(
    `per-RUN-step overhead${suffix} (20 × RUN true, --no-cache): ${(sandbox * 1000).toFixed(0)} ms on the build's sandbox network, ${(none * 1000).toFixed(0)} ms with --network none` +
      `${bkPerRun !== undefined && suffix === "" ? `; BuildKit ${(bkPerRun * 1000).toFixed(0)} ms (--network none)` : ""}`,
  );
}
if (peakKb !== undefined) console.log(`peak memory, many-files cold build: ${(peakKb / 1024).toFixed(0)} MB (max RSS)`);

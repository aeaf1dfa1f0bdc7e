#!/usr/bin/env node
// `npm run bench:run`: median latency of `berth run --rm IMAGE true` and `berth exec`, beside
// raw `runc run` on a prepared bundle (the floor), `runc exec`, a bare `node`, and Debian's
// podman when installed — all in the same run, measured by hyperfine.
//
// The berth store lives on a journaled ext4 loop file (the root ext4 here has no journal and
// reuses freed inodes slowly). Needs root, runc, busybox-static, hyperfine; `npm run build` first.
// Podman runs with --network none (no bridge may be created here) and explicit ulimits
// (this sandbox refuses podman's default RLIMIT_NOFILE/NPROC).
// BENCH_BASELINE=<another built berth checkout> times that checkout's `berth run` beside this
// one's (rows marked "baseline"), on the same store: before/after in one run. Where the user of
// scripts/rootless-user.sh exists (bench/lib/rootless.mjs; BENCH_ROOTLESS=0 leaves it out),
// berth's rows run as that user too (rootless), with a store of its own on the same loop file.
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, copyFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { asUserCommand, rootlessUser, stopRootless } from "./lib/rootless.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const berth = join(repo, "bin", "berth");
const runs = Number(process.env.BENCH_RUNS ?? 30);

if (process.getuid?.() !== 0) {
  console.log("bench:run needs root (runc, overlay mounts); skipped");
  process.exit(0);
}
for (const tool of ["runc", "hyperfine", "busybox"]) {
  if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
    console.log(`bench:run needs ${tool}; skipped`);
    process.exit(0);
  }
}
if (!existsSync(join(repo, "dist", "store", "index.js"))) {
  console.log("bench:run needs `npm run build` first");
  process.exit(1);
}

const work = mkdtempSync("/tmp/berth-bench-run-");
const mnt = join(work, "mnt");
const cleanups = [];
const rootless = rootlessUser();
function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: "utf8", ...opts });
}

try {
  // journaled ext4 on a sparse loop file
  const img = join(work, "store.ext4");
  sh("truncate", ["-s", "1G", img]);
  sh("mkfs.ext4", ["-q", "-F", img]);
  mkdirSync(mnt);
  sh("mount", ["-o", "loop", img, mnt]);
  cleanups.push(() => sh("umount", [mnt]));

  // a busybox rootfs, as test/helpers/busybox.ts makes it
  const rootfs = join(mnt, "rootfs");
  for (const d of ["bin", "dev", "etc", "proc", "sys", "tmp", "root"]) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync("/bin/busybox", join(rootfs, "bin/busybox"));
  chmodSync(join(rootfs, "bin/busybox"), 0o755);
  sh(join(rootfs, "bin/busybox"), ["--install", "-s", join(rootfs, "bin")]);
  sh("sh", ["-c", `for f in ${rootfs}/bin/*; do l=$(readlink "$f"); case "$l" in /*) ln -sf busybox "$f";; esac; done`]);
  writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\n");
  const tarball = join(work, "busybox.tar");
  sh("tar", ["-C", rootfs, "--numeric-owner", "-cf", tarball, "."]);

  // berth: a store with the image, and a detached container for exec
  const root = join(mnt, "berth");
  const { openStore } = await import(join(repo, "dist", "store", "index.js"));
  const { importRootfs } = await import(join(repo, "dist", "image", "index.js"));
  const store = await openStore(root);
  await importRootfs(store, createReadStream(tarball), { tag: "bench-busybox:latest", source: tarball, changes: ['CMD ["sh"]'] });
  await store.close(); // its lease's file would keep the loop mount busy
  const env = { ...process.env, BERTH_ROOT: root };
  // the default network's namespace and pasta stay between commands: taken down before the unmount
  cleanups.unshift(() => sh(berth, ["network", "prune", "-f"], { env }));
  // bin/berth writes a command's V8 code cache at its first run: a foreground run first, so
  // that `run`'s cache is not the one the detached run below would leave (a smaller one, which
  // lacks the foreground path)
  const baseline = process.env.BENCH_BASELINE;
  const other = baseline === undefined ? undefined : join(baseline, "bin", "berth");
  for (const bin of [berth, ...(other !== undefined ? [other] : [])]) sh(bin, ["run", "--rm", "bench-busybox", "true"], { env });
  const box = sh(berth, ["run", "-d", "--name", "benchbox", "bench-busybox", "sleep", "3600"], { env }).trim();
  cleanups.unshift(() => sh(berth, ["rm", "-f", box], { env }));

  // raw runc: a prepared bundle (rootfs dir + config.json), its own state root
  const bundle = join(mnt, "bundle");
  mkdirSync(bundle);
  sh("runc", ["spec", "--bundle", bundle]);
  const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
  spec.process.terminal = false;
  spec.process.args = ["true"];
  spec.root = { path: rootfs, readonly: true };
  writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
  const runcRoot = join(work, "runc-state");

  const commands = [
    ["node -e 0", `node -e 0`],
    ["runc run (prepared bundle)", `runc --root ${runcRoot} run --bundle ${bundle} bench-raw`],
    ["berth run --rm IMAGE true", `${berth} run --rm bench-busybox true`],
    ["berth run --rm --network none", `${berth} run --rm --network none bench-busybox true`],
    ["berth exec CONTAINER true", `${berth} exec ${box} true`],
  ];
  if (other !== undefined) {
    commands.push(["baseline: berth run --rm IMAGE", `${other} run --rm bench-busybox true`]);
    commands.push(["baseline: run --rm --network none", `${other} run --rm --network none bench-busybox true`]);
  }
  if (rootless !== undefined) {
    chmodSync(work, 0o755); // mkdtemp's 0700: the user reads the tarball and the loop mount
    const rlRoot = join(mnt, "berth-rootless");
    mkdirSync(rlRoot);
    chownSync(rlRoot, rootless.uid, rootless.gid);
    const rlEnv = { ...rootless.env, BERTH_ROOT: rlRoot };
    const asUser = (args) => sh(berth, args, { env: rlEnv, uid: rootless.uid, gid: rootless.gid }).trim();
    asUser(["import", "--change", 'CMD ["sh"]', tarball, "bench-busybox"]);
    // before the unmount: the holder's namespace has a copy of the loop mount
    cleanups.unshift(() => stopRootless(rootless, rlRoot));
    asUser(["run", "--rm", "bench-busybox", "true"]); // the code cache, as above
    const rlBox = asUser(["run", "-d", "--name", "benchbox", "bench-busybox", "sleep", "3600"]);
    cleanups.unshift(() => asUser(["rm", "-f", rlBox]));
    commands.push(
      ["rootless berth run --rm IMAGE true", asUserCommand(rootless, rlEnv, [berth, "run", "--rm", "bench-busybox", "true"])],
      ["rootless berth run --network none", asUserCommand(rootless, rlEnv, [berth, "run", "--rm", "--network", "none", "bench-busybox", "true"])],
      ["rootless berth exec CONTAINER", asUserCommand(rootless, rlEnv, [berth, "exec", rlBox, "true"])],
    );
  }
  const berthRunDir = sh("sh", ["-c", `ls -d /run/berth/*/runc/${box} 2>/dev/null | head -1`]).trim();
  if (berthRunDir !== "") commands.push(["runc exec (same container)", `runc --root ${dirname(berthRunDir)} exec ${box} true`]);
  const hasPodman = spawnSync("sh", ["-c", "command -v podman"]).status === 0;
  if (hasPodman) {
    sh("podman", ["import", tarball, "localhost/berth-bench-busybox"], { stdio: "ignore" });
    cleanups.push(() => sh("podman", ["rmi", "-f", "localhost/berth-bench-busybox"], { stdio: "ignore" }));
    const ulimits = "--ulimit nofile=20000:20000 --ulimit nproc=4096:4096";
    commands.push(["podman run --rm IMAGE true", `podman run --rm --network none ${ulimits} localhost/berth-bench-busybox true`]);
    // podman's user-space egress beside berth's default network (its bridge would be the host's)
    commands.push(["podman run --rm slirp4netns", `podman run --rm --network slirp4netns ${ulimits} localhost/berth-bench-busybox true`]);
  }

  const json = join(work, "hyperfine.json");
  const args = ["-N", "--warmup", "3", "--runs", String(runs), "--export-json", json, "--style", "none"];
  for (const [name, cmd] of commands) args.push("-n", name, cmd);
  execFileSync("hyperfine", args, { env, stdio: ["ignore", "ignore", "inherit"] });
  const results = JSON.parse(readFileSync(json, "utf8")).results;
  const median = Object.fromEntries(results.map((r) => [r.command, r.median]));
  console.log(`bench:run — ${runs} runs each, median wall time (store on a journaled ext4 loop file; load: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")})`);
  for (const r of results) {
    console.log(`  ${r.command.padEnd(30)} ${(r.median * 1000).toFixed(1).padStart(7)} ms   (mean ${(r.mean * 1000).toFixed(1)} ± ${(r.stddev * 1000).toFixed(1)}, user ${(r.user * 1000).toFixed(1)} ms)`);
  }
  const podman = median["podman run --rm IMAGE true"];
  if (podman !== undefined) {
    console.log(`  berth run --network none / podman run --network none: ${(median["berth run --rm --network none"] / podman).toFixed(2)}x (target ≤ 0.75x)`);
    const slirp = median["podman run --rm slirp4netns"];
    if (slirp !== undefined) console.log(`  berth run (default network: bridge, pasta) / podman run --network slirp4netns: ${(median["berth run --rm IMAGE true"] / slirp).toFixed(2)}x`);
  }
  if (rootless !== undefined) {
    const ratio = (a, b) => (median[a] / median[b]).toFixed(2);
    console.log(`  rootless / root: run ${ratio("rootless berth run --rm IMAGE true", "berth run --rm IMAGE true")}x, run --network none ${ratio("rootless berth run --network none", "berth run --rm --network none")}x, exec ${ratio("rootless berth exec CONTAINER", "berth exec CONTAINER true")}x`);
  }
} finally {
  for (const c of cleanups) {
    try {
      c();
    } catch (err) {
      console.error(`cleanup: ${err.message}`);
    }
  }
  rmSync(work, { recursive: true, force: true });
}

#!/usr/bin/env node
// One-time machine set-up shared by `npm test` and `npm run demo`: installs the npm
// dependencies when they are missing or stale, and (as root on Debian) the system packages
// berth's containers and tests need. Idempotent and quick when everything is present.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
  if (r.status !== 0) {
    console.error(`setup: ${cmd} ${args.join(" ")} failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
}

// npm dependencies
const installedLock = join(root, "node_modules", ".package-lock.json");
const lock = join(root, "package-lock.json");
if (!existsSync(installedLock) || (existsSync(lock) && statSync(installedLock).mtimeMs < statSync(lock).mtimeMs)) {
  // the lock file as committed (npm ci), so a fresh clone stays unmodified; npm install only
  // where there is no lock file
  const ci = existsSync(lock);
  console.error(`setup: installing npm dependencies (npm ${ci ? "ci" : "install"})`);
  run("npm", [ci ? "ci" : "install", "--no-audit", "--no-fund"]);
}

// System packages: what a transient container, a test base image and the interop tests need.
// command name -> Debian package
const systemTools = {
  runc: "runc",
  busybox: "busybox-static",
  skopeo: "skopeo",
  "docker-registry": "docker-registry",
  debootstrap: "debootstrap",
  tini: "tini",
  setfattr: "attr",
  mkfs_ext4: "e2fsprogs",
  ip: "iproute2",
  openssl: "openssl",
  bzip2: "bzip2",
  xz: "xz-utils",
  zstd: "zstd",
  // RUN --mount=type=ssh tests: a real agent
  "ssh-agent": "openssh-client",
  // ADD of git sources (and its tests' git daemon)
  git: "git",
  // containers' egress (build steps and `run`): pasta, slirp4netns as the fallback
  pasta: "passt",
  slirp4netns: "slirp4netns",
  // podman's seccomp profile: a test converts it as a --security-opt seccomp= file (berth's
  // default, Docker's own profile, is committed: src/runtime/seccomp-default.generated.ts)
  "containers-seccomp": "golang-github-containers-common",
  iptables: "iptables",
  // berth's N-API addon (native/), built by `npm install` with npm's node-gyp
  "g++": "g++",
  make: "make",
  python3: "python3",
};
const has = (tool) =>
  tool === "mkfs_ext4"
    ? existsSync("/sbin/mkfs.ext4") || existsSync("/usr/sbin/mkfs.ext4")
    : tool === "containers-seccomp"
    ? existsSync("/usr/share/containers/seccomp.json")
    : spawnSync("sh", ["-c", `command -v ${tool} || test -x /usr/sbin/${tool} || test -x /usr/bin/${tool}`], { stdio: "ignore" }).status === 0;
const missing = [...new Set(Object.entries(systemTools).filter(([tool]) => !has(tool)).map(([, pkg]) => pkg))];
if (missing.length > 0 && process.env.BERTH_SKIP_SYSTEM_DEPS !== "1") {
  const isRoot = process.getuid?.() === 0;
  const hasApt = existsSync("/usr/bin/apt-get");
  if (isRoot && hasApt) {
    console.error(`setup: installing Debian packages: ${missing.join(" ")}`);
    run("apt-get", ["update", "-qq"]);
    run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  } else {
    console.error(`setup: missing system packages (${missing.join(" ")}); tests that need them will be skipped`);
  }
}

// berth's addon, when npm install could not build it (the compiler came with the packages above)
if (!existsSync(join(root, "native", "build", "Release", "berth_native.node"))) run(process.execPath, [join(root, "scripts", "build-native.mjs")]);

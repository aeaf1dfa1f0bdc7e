#!/usr/bin/env node
// `npm install` (postinstall): builds native/, berth's N-API addon (syncfs(2) and flock(2),
// which Node lacks: see src/store/native.ts), with the node-gyp that npm ships, against the
// headers of the Node that runs it. A project's own lifecycle scripts run under npm's
// install-script policy, which blocks those of dependencies: hence a script, not a package.
// Never fails the install: without the addon berth runs sync(1) and flock(1) processes.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const root = join(dirname(new URL(import.meta.url).pathname), "..");
const dir = join(root, "native");

function nodeGyp() {
  // npm hands its own node-gyp to lifecycle scripts; otherwise look beside npm
  const candidates = [process.env.npm_config_node_gyp, join(dirname(process.execPath), "../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js")];
  try {
    candidates.push(createRequire(import.meta.url).resolve("node-gyp/bin/node-gyp.js"));
  } catch {
    // not installed as a package here
  }
  return candidates.find((p) => p !== undefined && existsSync(p));
}

const gyp = nodeGyp();
let ok = false;
if (gyp === undefined) console.warn("berth: node-gyp not found: the native addon is not built (berth falls back to sync(1) and flock(1))");
else {
  // the running Node's own headers (Debian's nodejs ships them in /usr/include/node): node-gyp
  // would otherwise download them, and this machine may be offline
  const prefix = join(dirname(process.execPath), "..");
  const nodedir = process.env.npm_config_nodedir ?? (existsSync(join(prefix, "include/node/node_api.h")) ? prefix : undefined);
  const r = spawnSync(process.execPath, [gyp, "rebuild", "--silent", ...(nodedir !== undefined ? [`--nodedir=${nodedir}`] : [])], { cwd: dir, stdio: ["ignore", "inherit", "inherit"] });
  ok = r.status === 0;
  if (!ok) console.warn("berth: building the native addon failed (berth falls back to sync(1) and flock(1))");
}
if (ok) console.log("berth: native addon built (native/build/Release/berth_native.node)");

/** Compiles native/SOURCE into native/build/Release/NAME with the first compiler found, static when `links` says so: true when built. */
function compile(name, source, links) {
  const out = join(dir, "build", "Release", name);
  let r = { status: 1 };
  for (const cc of [process.env.CC, "cc", "gcc"]) {
    if (cc === undefined) continue;
    for (const link of links) {
      r = spawnSync(cc, [...link, "-Os", "-Wall", "-o", out, join(dir, source)], { stdio: ["ignore", "inherit", "inherit"] });
      if (r.status === 0) break;
    }
    if (r.status === 0 || r.error === undefined) break; // a compiler that ran and failed: its message is enough
  }
  return r.status === 0;
}

// berth-secret-env (native/secret-env.c): the wrapper that gives `RUN --mount=type=secret,env=`
// values to a step's command through an fd instead of config.json. Static, as it runs inside
// images. Without it the values go through config.json on a tmpfs (see src/builder/run-step.ts).
if (compile("berth-secret-env", "secret-env.c", [["-static"]])) console.log("berth: secret env wrapper built (native/build/Release/berth-secret-env)");
else console.warn("berth: building native/secret-env.c failed (env secrets then pass through config.json on a tmpfs)");

// berth-netplug (native/netplug.c): plugs containers into bridge networks with netlink calls,
// one process instead of the shell hook's sh, nsenter and ip runs. Runs on the host (as runc's
// hook); static all the same, so that no dynamic loading is paid at every container start.
// Without it the shell hook does the same (src/runtime/network/attach.ts).
if (compile("berth-netplug", "netplug.c", [["-static"], []])) console.log("berth: network plug helper built (native/build/Release/berth-netplug)");
else console.warn("berth: building native/netplug.c failed (containers are plugged in by a shell hook: nsenter and ip)");

// berth-launch (native/launch.c): what bin/berth's first line runs; joins an ordinary user's
// namespace with setns(2) before Node starts (Node's threads forbid it later). Static, so that
// no dynamic loading is paid at every command. Without it bin/berth re-runs the command inside
// the namespace with nsenter, from a Node process that waits for it (src/sys/userns.ts).
if (compile("berth-launch", "launch.c", [["-static"], []])) console.log("berth: launcher built (native/build/Release/berth-launch)");
else console.warn("berth: building native/launch.c failed (rootless commands then enter their namespace through nsenter)");

// berth-chroot (native/chroot.c): runs a RUN step of `berth build --isolation chroot` in a
// chroot with the job's own privileges. Static: it needs nothing from the image it enters.
if (compile("berth-chroot", "chroot.c", [["-static"], []])) console.log("berth: chroot helper built (native/build/Release/berth-chroot)");
else console.warn("berth: building native/chroot.c failed (berth build --isolation chroot is then unavailable)");

#!/usr/bin/env node
// `npm run demo`: berth's main job on the example in fixtures/demo/ — build an image from a
// Dockerfile and run it, with a busybox base image made locally (no registry needed).
// The store is berth's default ($BERTH_ROOT, else /var/lib/berth as root), so the image is
// there afterwards for `bin/berth images`, `bin/berth run berth-demo` …
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { busyboxTarball } from "./lib/busybox.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const berth = join(root, "bin", "berth");
const demo = join(root, "fixtures", "demo");

function berthRun(args, { show = true, quiet = false } = {}) {
  if (show) console.log(`\n$ berth ${args.join(" ")}`);
  const r = spawnSync(process.execPath, [berth, ...args], { stdio: quiet ? "pipe" : "inherit", encoding: "utf8" });
  if (r.status !== 0 && !quiet) {
    console.error(`demo: berth ${args.join(" ")} failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
  return r;
}

// The base image: `FROM busybox` in the demo Dockerfile.
if (berthRun(["inspect", "busybox"], { show: false, quiet: true }).status !== 0) {
  berthRun(["import", busyboxTarball(), "busybox"]);
}
berthRun(["build", "--progress=plain", "-t", "berth-demo", demo]);
berthRun(["history", "berth-demo"]);
berthRun(["run", "--rm", "berth-demo"]);
console.log("\nAgain, unchanged: every step comes from the cache.");
berthRun(["build", "-q", "-t", "berth-demo", demo]);

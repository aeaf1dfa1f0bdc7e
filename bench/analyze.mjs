#!/usr/bin/env node
// `npm run bench:analyze`: berth image analyze (the whole command, as a user runs it) on two
// images: bench:build's many-files workload (20,000 files of 10 KB, 200 MB) and a 1 GB image
// with waste in it (300 MB made and removed by a later RUN, a 200 MB context file copied again,
// 4,000 files overwritten). Medians of BENCH_RUNS runs. Needs root (a build runs RUN steps).
import { execFileSync, spawnSync } from "node:child_process";
import { createReadStream, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

const repo = new URL("..", import.meta.url).pathname;
if (!existsSync(join(repo, "dist/bundle/main.cjs"))) execFileSync("npm", ["run", "build"], { cwd: repo, stdio: "inherit" });
const { openStore } = await import(join(repo, "dist/store/index.js"));
const { importRootfs } = await import(join(repo, "dist/image/index.js"));
const { busyboxTarball } = await import(join(repo, "scripts/lib/busybox.mjs"));
const { workloads: buildWorkloads } = await import("./lib/workloads.mjs");

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const base = `/tmp/berth-bench-analyze-${process.pid}`;
const entry = join(repo, "bin/berth");

const workloads = {
  // bench:build's many-files workload (bench/lib/workloads.mjs)
  "many-files (20k files, 200 MB)": buildWorkloads["many-files"],
  "1 GB with waste"(dir) {
    const big = Buffer.alloc(200 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    writeFileSync(join(dir, "big.bin"), big);
    const buf = Buffer.alloc(25 * 1024, 3);
    for (let i = 0; i < 4000; i++) {
      buf.writeUInt32LE(i, 0);
      const d = join(dir, "files", `d${Math.floor(i / 500)}`);
      if (i % 500 === 0) mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `f${i}`), buf);
    }
    writeFileSync(join(dir, "Dockerfile"), [
      "FROM busybox",
      "COPY big.bin files /src/",
      "RUN head -c 300000000 /dev/zero > /tmp/scratch",
      "RUN rm /tmp/scratch && cp /src/big.bin /big-copy.bin",
      "RUN for d in /src/d*; do for f in $d/*; do echo x >> $f; done; done",
      "",
    ].join("\n"));
  },
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  for (const [name, make] of Object.entries(workloads)) {
    const ctx = join(base, "ctx", name.split(" ")[0]);
    mkdirSync(ctx, { recursive: true });
    make(ctx);
    const root = join(base, "store", name.split(" ")[0]);
    const store = await openStore(root);
    await importRootfs(store, createReadStream(busyboxTarball()), { source: "busybox.tar", tag: "busybox" });
    await store.close();
    const b = spawnSync(entry, ["--root", root, "build", "-q", "-t", "bench:1", ctx], { encoding: "utf8" });
    if (b.status !== 0) throw new Error(b.stderr);
    const times = [];
    let out = "";
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const r = spawnSync(entry, ["--root", root, "image", "analyze", "--format", "json", "bench:1"], { encoding: "utf8", maxBuffer: 1 << 30 });
      times.push((performance.now() - t0) / 1000);
      if (r.status !== 0) throw new Error(r.stderr);
      out = r.stdout;
    }
    const j = JSON.parse(out);
    console.log(`${name.padEnd(32)} ${median(times).toFixed(2)} s (median of ${RUNS}; min ${Math.min(...times).toFixed(2)} s) — image ${(j.image.sizeBytes / 1e6).toFixed(0)} MB, ` +
      `${j.layer.length} layers, wasted ${(j.berth.wastedBytes / 1e6).toFixed(0)} MB, efficiency ${(j.image.efficiencyScore * 100).toFixed(2)} %`);
  }
} finally {
  rmSync(base, { recursive: true, force: true });
}

#!/usr/bin/env node
// COPY benchmark: 20,000 files / 200 MB on a journaled ext4 loop mount (the root ext4 here has
// no journal and delays inode reuse, which would distort create-heavy numbers).
// Measures: context index (walk + lstat), checksum cold (no stat cache) and warm (stat cache
// loaded from its file), and the COPY layer writer into a fresh upper dir on the same fs.
// Needs root (mount) and a compiled dist/ (npm run build, or `npx tsc -p tsconfig.json`).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

const root = new URL("..", import.meta.url).pathname;
if (!existsSync(join(root, "dist/context/index.js"))) execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root, stdio: "inherit" });
const { BuildContext, resolveCopySources, checksumSelection, StatCache } = await import(join(root, "dist/context/index.js"));
const { writeCopy } = await import(join(root, "dist/builder/copy/index.js"));

const FILES = Number(process.env.BENCH_FILES ?? 20000);
const TOTAL = Number(process.env.BENCH_BYTES ?? 200 * 1024 * 1024);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const base = `/tmp/berth-bench-copy-${process.pid}`;
const img = `${base}.img`;
const mnt = `${base}.mnt`;

function sh(cmd, args) {
  execFileSync(cmd, args, { stdio: ["ignore", "ignore", "inherit"] });
}

async function time(label, fn) {
  const t0 = performance.now();
  const r = await fn();
  const ms = performance.now() - t0;
  return { label, ms, r };
}

mkdirSync(mnt, { recursive: true });
sh("truncate", ["-s", "2G", img]);
sh("mkfs.ext4", ["-q", "-F", "-O", "has_journal", img]);
sh("mount", ["-o", "loop", img, mnt]);
try {
  const ctxDir = join(mnt, "context");
  const perFile = Math.floor(TOTAL / FILES);
  const perDir = 100;
  const buf = Buffer.alloc(perFile);
  for (let i = 0; i < FILES; i++) {
    const dir = join(ctxDir, `d${Math.floor(i / perDir / 20)}`, `s${Math.floor(i / perDir)}`);
    if (i % perDir === 0) mkdirSync(dir, { recursive: true });
    buf.writeUInt32LE(i, 0);
    writeFileSync(join(dir, `f${i}.dat`), buf);
  }
  sh("sync", []);
  console.log(`context: ${FILES} files, ${(TOTAL / 1048576).toFixed(0)} MB, on journaled ext4 (loop)`);
  const rows = [];
  for (let run = 0; run < RUNS; run++) {
    const cacheFile = join(mnt, `statcache-${run}.json`);
    const load = await time("context index (walk+lstat)", () => BuildContext.load(ctxDir, { ignorePatterns: [] }));
    const ctx = load.r;
    const resolve = await time("resolve COPY . /app/", () => resolveCopySources(ctx, ["."]));
    const sources = resolve.r;
    const cold = await time("checksum cold", async () => {
      const cache = new StatCache(cacheFile);
      const sum = await checksumSelection(ctx, sources, { statCache: cache });
      cache.save();
      return sum;
    });
    const warm = await time("checksum warm (stat cache file)", async () => {
      const cache = StatCache.load(cacheFile);
      return checksumSelection(ctx, sources, { statCache: cache });
    });
    if (warm.r.digest !== cold.r.digest || warm.r.hashedFiles !== 0) throw new Error("warm checksum differs or re-read files");
    const upper = join(mnt, `upper-${run}`);
    mkdirSync(upper);
    const copy = await time("copy, 1 thread", () => writeCopy({ source: ctx, sources, dest: "/app/", upperDir: upper, isOpaque: () => false, parallelism: 1 }));
    if (copy.r.files !== FILES) throw new Error(`copied ${copy.r.files} files`);
    sh("sync", []);
    const upper2 = join(mnt, `upper2-${run}`);
    mkdirSync(upper2);
    const copy2 = await time("copy, 2 worker threads", () => writeCopy({ source: ctx, sources, dest: "/app/", upperDir: upper2, isOpaque: () => false, parallelism: 2 }));
    if (copy2.r.files !== FILES) throw new Error(`copied ${copy2.r.files} files`);
    sh("sync", []);
    rows.push([load, resolve, cold, warm, copy, copy2]);
    rmSync(upper, { recursive: true });
    rmSync(upper2, { recursive: true });
  }
  const labels = rows[0].map((r) => r.label);
  console.log("step".padEnd(36), "median ms", "  runs");
  labels.forEach((label, i) => {
    const ms = rows.map((r) => r[i].ms).sort((a, b) => a - b);
    console.log(label.padEnd(36), ms[Math.floor(ms.length / 2)].toFixed(0).padStart(9), "  ", ms.map((m) => m.toFixed(0)).join(" "));
  });
  console.log(`peak RSS ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB`);
} finally {
  try {
    sh("umount", [mnt]);
  } catch {}
  rmSync(mnt, { recursive: true, force: true });
  rmSync(img, { force: true });
}

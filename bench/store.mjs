#!/usr/bin/env node
// npm run bench:store — import/save/load of a generated rootfs and the diff of a many-file
// upper dir, next to `tar -c | gzip` and `gzip -d | tar -x` on the same data in the same run.
// Stores live on a journaled ext4 loop file (the root fs here has no journal and will not reuse
// recently freed inodes, which makes file creation after deletion slow). Needs root; run
// `npm run build` first. Sizes: BENCH_MB (default 500), BENCH_FILES (default 20000). The
// extract/import/load/save rows run BENCH_REPEAT times (default 3), each into a fresh target,
// and report the median (the machine is shared: single runs vary by ±40%).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, rmSync, statSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const berth = join(repo, "bin/berth");
const MB = Number(process.env.BENCH_MB ?? 500);
const FILES = Number(process.env.BENCH_FILES ?? 20000);
const base = `/tmp/berth-bench-${process.pid}`;
const img = `${base}.img`;
const mnt = `${base}-mnt`;

const sh = (cmd) => execFileSync("sh", ["-c", cmd], { stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 26 }).toString();
const time = (label, fn) => {
  sh("sync");
  const t0 = performance.now();
  const out = fn();
  const s = (performance.now() - t0) / 1000;
  return { label, s, out };
};
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
/** `fn` REPEAT times, `reset` (untimed) before each; the median, with every run kept. */
const timeMedian = (label, reset, fn) => {
  const runs = [];
  let out;
  for (let i = 0; i < REPEAT; i++) {
    reset();
    const r = time(label, fn);
    runs.push(r.s);
    out = r.out;
  }
  const sorted = [...runs].sort((a, b) => a - b);
  return { label, s: sorted[Math.floor(sorted.length / 2)], runs, out };
};
const fresh = (dir) => () => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
};
const gone = (path) => () => rmSync(path, { recursive: true, force: true });
const results = [];
const record = (r, bytes) => {
  results.push({ ...r, mbps: bytes ? bytes / 1e6 / r.s : undefined });
  console.log(`${r.label.padEnd(52)} ${r.s.toFixed(2).padStart(7)} s${bytes ? `  ${(bytes / 1e6 / r.s).toFixed(0).padStart(5)} MB/s` : ""}${r.runs ? `  (runs: ${r.runs.map((x) => x.toFixed(2)).join(", ")})` : ""}`);
};
const run = (args) => {
  const r = spawnSync(process.execPath, [berth, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`berth ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

try {
  sh(`truncate -s ${Math.max(4, Math.ceil((MB * 20) / 1000))}G ${img} && mkfs.ext4 -q -F ${img} && mkdir -p ${mnt} && mount -o loop ${img} ${mnt}`);
  // a rootfs: FILES files in 200 dirs, MB megabytes, half random (incompressible), half text-like
  const rootfs = join(mnt, "rootfs");
  const per = Math.floor((MB * 1e6) / FILES);
  const text = Buffer.from("the quick brown fox jumps over the lazy dog 0123456789\n".repeat(Math.ceil(per / 54) + 1));
  for (let i = 0; i < FILES; i++) {
    const d = join(rootfs, "usr", `d${i % 200}`);
    if (i < 200) mkdirSync(d, { recursive: true });
    const body = i % 2 === 0 ? randomBytes(per) : text.subarray(0, per);
    writeFileSync(join(d, `f${i}`), body);
  }
  const bytes = Number(sh(`du -sb ${rootfs}`).split("\t")[0]);
  console.log(`data: ${FILES} files, ${(bytes / 1e6).toFixed(0)} MB in ${rootfs} (ext4 loop, journaled); ${sh("nproc").trim()} cores`);

  record(time("baseline: tar -c | gzip > rootfs.tar.gz", () => sh(`tar -C ${rootfs} -c . | gzip > ${mnt}/rootfs.tar.gz`)), bytes);
  record(time("baseline: tar -c | sha256sum (what a diff does)", () => sh(`tar -C ${rootfs} -c . | sha256sum`)), bytes);
  record(time("baseline: tar -c > rootfs.tar", () => sh(`tar -C ${rootfs} -cf ${mnt}/rootfs.tar .`)), bytes);
  record(timeMedian("baseline: gzip -d | tar -x", fresh(join(mnt, "x1")), () => sh(`gzip -dc ${mnt}/rootfs.tar.gz | tar -C ${mnt}/x1 -x`)), bytes);
  record(timeMedian("baseline: tar -x (plain)", fresh(join(mnt, "x2")), () => sh(`tar -C ${mnt}/x2 -xf ${mnt}/rootfs.tar`)), bytes);

  rmSync(join(mnt, "x1"), { recursive: true, force: true });
  rmSync(join(mnt, "x2"), { recursive: true, force: true });
  const s1 = join(mnt, "store1");
  const s2 = join(mnt, "store2");
  record(timeMedian("berth import rootfs.tar (apply + tar-split)", gone(s1), () => run(["--root", s1, "import", `${mnt}/rootfs.tar`, "bench:1"])), bytes);
  record(timeMedian("berth import rootfs.tar.gz", gone(join(mnt, "store0")), () => run(["--root", join(mnt, "store0"), "import", `${mnt}/rootfs.tar.gz`, "bench:1"])), bytes);
  rmSync(join(mnt, "store0"), { recursive: true, force: true });
  record(timeMedian("berth save -o (layers made again from tar-split)", gone(`${mnt}/saved.tar`), () => run(["--root", s1, "save", "-o", `${mnt}/saved.tar`, "bench:1"])), bytes);
  record(timeMedian("berth load -i (into an empty store)", gone(s2), () => run(["--root", s2, "load", "-i", `${mnt}/saved.tar`])), bytes);
  time("(skopeo copy --dest-compress to an OCI layout: setup, not timed)", () => {
    sh(`skopeo --insecure-policy copy --dest-compress docker-archive:${mnt}/saved.tar oci:${mnt}/gzlayout:bench:1 >/dev/null && tar -C ${mnt}/gzlayout -cf ${mnt}/gz.tar .`);
  });
  record(timeMedian("berth load -i gzip OCI layout tar", gone(join(mnt, "store3")), () => run(["--root", join(mnt, "store3"), "load", "-i", `${mnt}/gz.tar`])), bytes);

  // diff of an upper dir: the extracted tree, as commitSnapshot digests it; the same baseline
  // again right before it, so both see the same page cache
  record(time("baseline again: tar -c | sha256sum", () => sh(`tar -C ${rootfs} -c . | sha256sum`)), bytes);
  const { digestDirectory } = await import(join(repo, "dist/layer/index.js"));
  record(await (async () => {
    sh("sync");
    const t0 = performance.now();
    await digestDirectory(rootfs);
    return { label: `diff (digest) of a ${FILES}-file upper dir`, s: (performance.now() - t0) / 1000 };
  })(), bytes);
  const { openStore } = await import(join(repo, "dist/store/index.js"));
  const st = await openStore(s1);
  const image = await st.resolveImage("bench:1");
  record(await (async () => {
    const t0 = performance.now();
    await st.compressedLayerBlob(image.layers[0].diffId);
    return { label: "lazy gzip of the layer (first save/push needing it)", s: (performance.now() - t0) / 1000 };
  })(), bytes);
  await st.close(); // its lease's file would keep the loop mount busy
  const ratio = (a, b) => results.find((r) => r.label.startsWith(a)).s / results.find((r) => r.label.startsWith(b)).s;
  const ratios = {
    "load / gzip -d|tar -x": ratio("berth load -i (into", "baseline: gzip -d"),
    "load gzip layout / gzip -d|tar -x": ratio("berth load -i gzip", "baseline: gzip -d"),
    "import tar / gzip -d|tar -x": ratio("berth import rootfs.tar (", "baseline: gzip -d"),
    "import tar.gz / gzip -d|tar -x": ratio("berth import rootfs.tar.gz", "baseline: gzip -d"),
  };
  for (const [k, v] of Object.entries(ratios)) console.log(`${k.padEnd(52)} ${v.toFixed(2).padStart(7)} x`);
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  console.log(`load average at the end: ${load}`);
  writeFileSync(join(repo, "bench", "store-results.json"), `${JSON.stringify({ when: new Date().toISOString(), files: FILES, bytes, repeat: REPEAT, loadavg: load, ratios, results }, null, 1)}\n`);
} finally {
  spawnSync("umount", [mnt]);
  rmSync(mnt, { recursive: true, force: true });
  rmSync(img, { force: true });
}

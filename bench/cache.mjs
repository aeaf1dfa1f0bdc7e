#!/usr/bin/env node
// `npm run bench:cache`: the CI scenario of the shared build cache (issue 6), timed.
//
// Machine A (store A) builds a two-stage fixture with `--cache-to type=registry,…,mode=max` to a
// real docker-registry on loopback. Machine B is an empty store holding only the base image
// (pulled from the registry, not timed), with the context checked out in another directory;
// per round it builds the same fixture
//   - cold, without --cache-from (every step runs),
//   - cold, with --cache-from type=registry (every step a cache hit, layers pulled lazily),
//   - cold, with --cache-from type=local (the same artifact in a CI-cached folder),
//   - then, on the --cache-from store, again after one changed file (only its dependants run).
// Every build is the real `bin/berth build` process (start-up included). "pulled" is what the
// build added to store B's blob store (the compressed layers it fetched, plus the image's
// config and manifest), beside the size of the whole cache artifact.
//
// Stores, the registry's storage and the contexts live on a journaled ext4 loop file mounted
// for the run (the root ext4 has no journal and is slow to create files after deletions).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startRegistry } from "./lib/registry.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const berthBin = join(here, "../bin/berth");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BUSYBOX_TAR = "/tmp/berth-test-base/busybox-rootfs.tar";

// A "dependencies" step (40 MiB of data and a second or two of CPU), a "compile" step over the
// sources, and a final stage that copies the result and checks it: what a CI build looks like.
const DOCKERFILE = `FROM busybox AS deps
RUN dd if=/dev/urandom of=/deps.bin bs=1M count=40 2>/dev/null && i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done
COPY src/ /src/
RUN cat /src/* > /out.txt && dd if=/dev/urandom of=/build.bin bs=1M count=20 2>/dev/null && i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done

FROM busybox
WORKDIR /app
COPY --from=deps /out.txt /build.bin /app/
COPY app.txt /app/
RUN sha256sum /app/* > /app/SUMS
`;
const FILES = { Dockerfile: DOCKERFILE, "src/a.c": "int a;\n", "src/b.c": "int b;\n", "app.txt": "app v1\n" };

function sh(cmd, args) {
  return execFileSync(cmd, args, { encoding: "utf8" });
}

function berth(root, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [berthBin, "--root", root, ...args], { encoding: "utf8", env: { ...process.env, BERTH_ROOT: "" } });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`berth ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return { secs, stdout: r.stdout, stderr: r.stderr };
}

async function writeContext(dir, files) {
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, rel)), { recursive: true });
    await writeFile(join(dir, rel), content);
  }
  return dir;
}

function blobBytes(root) {
  const dir = join(root, "blobs/sha256");
  const out = new Map();
  if (!existsSync(dir)) return out;
  for (const n of readdirSync(dir)) out.set(n, statSync(join(dir, n)).size);
  return out;
}

function added(before, after) {
  let n = 0;
  for (const [k, v] of after) if (!before.has(k)) n += v;
  return n;
}


function getJson(url, accept) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { accept } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
    }).on("error", reject);
  });
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0] };
};
const fmt = (x) => `${x.toFixed(2)} s`;
const mib = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;

async function main() {
  if (!existsSync(join(here, "../dist/cli/main.js"))) {
    console.error("build first: npm run build");
    process.exit(1);
  }
  if (!existsSync(BUSYBOX_TAR)) {
    console.error(`${BUSYBOX_TAR} is missing: run the tests once (test/helpers/busybox.ts makes it)`);
    process.exit(1);
  }
  const work = `/tmp/berth-bench-cache-${process.pid}`;
  const img = join(work, "ext4.img");
  const mnt = join(work, "mnt");
  await mkdir(mnt, { recursive: true });
  sh("truncate", ["-s", "4G", img]);
  sh("mkfs.ext4", ["-q", "-F", img]);
  sh("mount", ["-o", "loop", img, mnt]);
  const reg = await startRegistry(join(mnt, "registry", "storage"));
  try {
    const base = `${reg.host}/base/busybox:1`;
    const cacheRef = `${reg.host}/ci/cache:main`;
    const storeA = join(mnt, "a", "store");
    berth(storeA, ["import", BUSYBOX_TAR, "busybox"]);
    berth(storeA, ["tag", "busybox", base]);
    berth(storeA, ["push", "-q", base]);
    const ctxA = await writeContext(join(mnt, "a", "checkout"), FILES);
    const localCache = join(mnt, "ci-cache-folder");
    const a = berth(storeA, ["build", "--progress=plain", "--iidfile", join(mnt, "a", "iid"), "--cache-to", `type=registry,ref=${cacheRef},mode=max`, "--cache-to", `type=local,dest=${localCache},mode=max`, ctxA]);
    const imageA = execFileSync("cat", [join(mnt, "a", "iid")], { encoding: "utf8" }).trim();
    const exportTimes = [...a.stderr.matchAll(/#(\d+) exporting cache to ([^\n]*)\n#\1 DONE ([\d.]+)s/g)].map((m) => `${m[2].split(" ")[0] === "registry" ? "registry" : "folder"} ${m[3]} s`);
    console.log(`machine A: build + export to registry and folder ${fmt(a.secs)} (${imageA.slice(7, 19)}; export: ${exportTimes.join(", ")}, the first one gzips the layers)`);
    const manifest = await getJson(`http://${cacheRef.replace(/^([^/]+)\/(.*):(.*)$/, "$1/v2/$2/manifests/$3")}`, "application/vnd.oci.image.manifest.v1+json");
    const artifactBytes = manifest.layers.reduce((n, l) => n + l.size, 0) + manifest.config.size;
    console.log(`cache artifact: ${manifest.layers.length} layers, ${mib(artifactBytes)} (index ${manifest.config.size} B)`);

    const freshB = (name, r) => {
      const root = join(mnt, `b-${name}-${r}`, "store");
      berth(root, ["pull", "-q", base]);
      berth(root, ["tag", base, "busybox"]);
      return root;
    };
    const rows = { cold: [], registry: [], local: [], changed: [] };
    const pulled = { registry: [], local: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const ctxB = await writeContext(join(mnt, `b-ctx-${r}`, "repo"), FILES);
      const cold = freshB("cold", r);
      const c = berth(cold, ["build", "-q", ctxB]);
      if (c.stdout.trim() === imageA) throw new Error("a cold build without the cache gave A's image: the fixture is not time-dependent as expected");
      rows.cold.push(c.secs);
      for (const kind of ["registry", "local"]) {
        const root = freshB(kind, r);
        const before = blobBytes(root);
        const from = kind === "registry" ? `type=registry,ref=${cacheRef}` : `type=local,src=${localCache}`;
        const b = berth(root, ["build", "--progress=plain", "--iidfile", join(root, "..", "iid"), "--cache-from", from, ctxB]);
        const ran = (b.stderr.match(/cache miss/g) ?? []).length;
        if (ran !== 0) throw new Error(`--cache-from ${kind}: ${ran} steps ran`);
        const id = execFileSync("cat", [join(root, "..", "iid")], { encoding: "utf8" }).trim();
        if (id !== imageA) throw new Error(`--cache-from ${kind}: image ${id} differs from A's ${imageA}`);
        rows[kind].push(b.secs);
        pulled[kind].push(added(before, blobBytes(root)));
        if (kind === "registry") {
          await writeFile(join(ctxB, "app.txt"), `app v2 round ${r}\n`);
          const ch = berth(root, ["build", "--progress=plain", "--cache-from", from, ctxB]);
          const misses = (ch.stderr.match(/cache miss/g) ?? []).length;
          if (misses !== 2) throw new Error(`after one changed file ${misses} steps ran, want 2`);
          rows.changed.push(ch.secs);
          await writeFile(join(ctxB, "app.txt"), FILES["app.txt"]);
        }
      }
    }
    console.log(`\nstore B (empty but for the base image), ${ROUNDS} rounds, median (min):`);
    const line = (label, xs) => { const s = stats(xs); console.log(`  ${label.padEnd(44)} ${fmt(s.median)} (${fmt(s.min)})`); };
    line("cold, no --cache-from (all 7 layer steps run)", rows.cold);
    line("cold, --cache-from type=registry (0 run)", rows.registry);
    line("cold, --cache-from type=local (0 run)", rows.local);
    line("then one changed file (2 steps run)", rows.changed);
    console.log(`  pulled by the registry import: ${mib(stats(pulled.registry).median)} of the ${mib(artifactBytes)} artifact; local: ${mib(stats(pulled.local).median)}`);
    console.log(`  load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  } finally {
    await reg.stop();
    spawnSync("umount", [mnt]);
    await rm(work, { recursive: true, force: true });
  }
}

await main();

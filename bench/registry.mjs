#!/usr/bin/env node
// `npm run bench:registry`: push and pull of a 300 MB, 5-layer image over loopback to a real
// docker-registry, berth's registry client beside `skopeo copy` of the same OCI layout, same run.
//
// Everything on disk (the source OCI layout, the registry's storage, the pulled copies) lives on
// a journaled ext4 loop file mounted for the run (the root ext4 has no journal and would make
// file creation after deletion slow). Each round starts a fresh registry (skopeo would otherwise
// mount blobs it remembers pushing); each tool pushes to its own repository.
//
// berth's side, each a separate process (start-up included): the registry client on the same OCI
// layout (push reads its blobs, pull writes blobs to files, temp + rename, no fsync, like
// skopeo's oci: destination), and, when the store is built, the real `berth push` from a store
// and `berth pull` into an empty store (layers extracted, blobs fsync'd).
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { freePort, startRegistry } from "./lib/registry.mjs";
import { createGzip } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const distRegistry = join(here, "../dist/registry/index.js");
const distStore = join(here, "../dist/store/index.js");
const berthBin = join(here, "../bin/berth");
const LAYERS = 5;
const LAYER_BYTES = 60 * 1024 * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 5);

if (process.argv[2] === "worker") {
  await worker(process.argv.slice(3));
} else {
  await main();
}

// ---------------------------------------------------------------------------------------------
// berth side, run as its own process

async function worker([mode, a, b]) {
  const { RegistryClient, mapLimit, parseRemoteReference } = await import(distRegistry);
  const client = new RegistryClient({ credentials: async () => undefined });
  try {
    if (mode === "push") {
      const [layoutDir, refText] = [a, b];
      const ref = parseRemoteReference(refText);
      const index = JSON.parse(await readFile(join(layoutDir, "index.json"), "utf8"));
      const mdesc = index.manifests[0];
      const blobPath = (d) => join(layoutDir, "blobs/sha256", d.slice(7));
      const manifestBytes = await readFile(blobPath(mdesc.digest));
      const manifest = JSON.parse(manifestBytes.toString());
      const source = (d) => ({ size: d.size, open: (start) => createReadStream(blobPath(d.digest), { start, highWaterMark: 1 << 20 }) });
      await mapLimit([manifest.config, ...manifest.layers], CONCURRENCY, (d) => client.pushBlob(ref, d, source(d)));
      await client.putManifest(ref, manifestBytes, mdesc.mediaType);
    } else if (mode === "pull") {
      const [refText, outDir] = [a, b];
      const ref = parseRemoteReference(refText);
      const resolved = await client.getManifest(ref);
      const blobs = join(outDir, "blobs/sha256");
      await mkdir(blobs, { recursive: true });
      await mapLimit([resolved.manifest.config, ...resolved.manifest.layers], CONCURRENCY, async (d) => {
        const final = join(blobs, d.digest.slice(7));
        const tmp = `${final}.tmp`;
        await pipeline(client.fetchBlob(ref, d), createWriteStream(tmp, { highWaterMark: 1 << 20 }));
        await rename(tmp, final);
      });
      await writeFile(join(blobs, resolved.digest.slice(7)), resolved.bytes);
    } else if (mode === "load") {
      // the OCI layout's image into a store, keeping its exact manifest and gzip blobs
      const [layoutDir, root] = [a, b];
      const { openStore } = await import(distStore);
      const store = await openStore(root);
      const index = JSON.parse(await readFile(join(layoutDir, "index.json"), "utf8"));
      const blobPath = (d) => join(layoutDir, "blobs/sha256", d.slice(7));
      const manifestBytes = await readFile(blobPath(index.manifests[0].digest));
      const manifest = JSON.parse(manifestBytes.toString());
      const configBytes = await readFile(blobPath(manifest.config.digest));
      const diffIds = JSON.parse(configBytes.toString()).rootfs.diff_ids;
      for (const [i, l] of manifest.layers.entries()) {
        await store.importLayer(createReadStream(blobPath(l.digest)), { expectedDigest: l.digest, expectedDiffId: diffIds[i] });
      }
      await store.addImage(configBytes, { manifestBytes, tags: ["bench/src:v1"] });
    } else if (mode === "tag") {
      const { openStore } = await import(distStore);
      const store = await openStore(a);
      await store.tag(b, (await store.resolveImage("bench/src:v1")).id);
    } else {
      throw new Error(`unknown worker mode ${mode}`);
    }
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// driver

function sh(cmd, args) {
  return execFileSync(cmd, args, { encoding: "utf8" });
}

async function mountScratch(work) {
  const img = join(work, "ext4.img");
  const mnt = join(work, "mnt");
  await mkdir(mnt, { recursive: true });
  if (!readFileSyncSafe("/proc/mounts").includes(` ${mnt} `)) {
    await rm(img, { force: true });
    sh("truncate", ["-s", "6G", img]);
    sh("mkfs.ext4", ["-q", "-F", img]);
    sh("mount", ["-o", "loop", img, mnt]);
  }
  return {
    mnt,
    async unmount() {
      spawnSync("umount", [mnt]);
      await rm(img, { force: true });
    },
  };
}

/** containers-storage may leave overlay mounts under its root: unmount them, deepest first. */
function unmountUnder(dir) {
  const mounts = readFileSyncSafe("/proc/mounts")
    .split("\n")
    .map((l) => l.split(" ")[1])
    .filter((m) => m !== undefined && m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync("umount", ["-l", m]);
}

function readFileSyncSafe(p) {
  try {
    return execFileSync("cat", [p], { encoding: "utf8" });
  } catch {
    return "";
  }
}

/** An OCI layout with LAYERS gzip layers of incompressible data (one file each). */
async function makeLayout(dir) {
  if (existsSync(join(dir, "index.json"))) return;
  const blobs = join(dir, "blobs/sha256");
  await mkdir(blobs, { recursive: true });
  const layers = [];
  const diffIds = [];
  for (let i = 0; i < LAYERS; i++) {
    const tmp = join(blobs, `layer${i}.tmp`);
    const diff = createHash("sha256");
    const comp = createHash("sha256");
    let size = 0;
    async function* tarBytes() {
      const header = Buffer.alloc(512);
      header.write(`data${i}.bin`, 0);
      header.write("0000644\0", 100);
      header.write("0000000\0", 108);
      header.write("0000000\0", 116);
      header.write(`${LAYER_BYTES.toString(8).padStart(11, "0")}\0`, 124);
      header.write("00000000000\0", 136);
      header.write("        ", 148);
      header.write("0", 156);
      header.write("ustar\x0000", 257);
      let sum = 0;
      for (const b of header) sum += b;
      header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
      diff.update(header);
      yield header;
      for (let done = 0; done < LAYER_BYTES; done += 1 << 20) {
        const chunk = randomBytes(Math.min(1 << 20, LAYER_BYTES - done));
        diff.update(chunk);
        yield chunk;
      }
      const end = Buffer.alloc(1024);
      diff.update(end);
      yield end;
    }
    const out = createWriteStream(tmp);
    await pipeline(tarBytes, createGzip({ level: 1 }), async function* (src) {
      for await (const c of src) {
        comp.update(c);
        size += c.length;
        yield c;
      }
    }, out);
    const digest = `sha256:${comp.digest("hex")}`;
    await rename(tmp, join(blobs, digest.slice(7)));
    layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest, size });
    diffIds.push(`sha256:${diff.digest("hex")}`);
  }
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: diffIds }, history: diffIds.map(() => ({ created_by: "bench" })) }));
  const cdigest = `sha256:${createHash("sha256").update(config).digest("hex")}`;
  await writeFile(join(blobs, cdigest.slice(7)), config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: cdigest, size: config.length }, layers }));
  const mdigest = `sha256:${createHash("sha256").update(manifest).digest("hex")}`;
  await writeFile(join(blobs, mdigest.slice(7)), manifest);
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: mdigest, size: manifest.length, annotations: { "org.opencontainers.image.ref.name": "bench" } }] }));
}


function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return secs;
}

async function main() {
  if (!existsSync(distRegistry)) {
    console.error("build first: npx tsc -p tsconfig.json");
    process.exit(1);
  }
  const work = "/tmp/berth-bench-registry";
  await mkdir(work, { recursive: true });
  const scratch = await mountScratch(work);
  const reg = { stop: async () => {} };
  // (reassigned per round)
  try {
    const layout = join(scratch.mnt, "src-oci");
    console.log(`building a ${LAYERS}-layer OCI layout (${(LAYERS * LAYER_BYTES) / 2 ** 20} MiB of incompressible data) ...`);
    await makeLayout(layout);
    let total = 0;
    for (const d of JSON.parse(await readFile(join(layout, "index.json"), "utf8")).manifests) {
      const m = JSON.parse(await readFile(join(layout, "blobs/sha256", d.digest.slice(7)), "utf8"));
      for (const l of m.layers) total += l.size;
    }
    const results = { "skopeo push": [], "berth push": [], "skopeo pull": [], "berth pull": [] };
    // With the store built (phase 2), also the real commands: `berth push` from a store and
    // `berth pull` into an empty store (which extracts every layer and fsyncs, unlike skopeo's oci: copy).
    const withStore = existsSync(distStore);
    const srcStore = join(scratch.mnt, "store-src");
    if (withStore) {
      results["berth push (CLI, store)"] = [];
      results["berth pull (CLI, store)"] = [];
      // skopeo into containers-storage (overlay driver) extracts layers too: the like-for-like
      // comparison for a pull into berth's store
      results["skopeo pull (c/storage)"] = [];
      timed(process.execPath, [fileURLToPath(import.meta.url), "worker", "load", layout, srcStore]);
    }
    const out = join(scratch.mnt, "out");
    for (let round = 1; round <= ROUNDS; round++) {
      // A fresh registry (new port, empty storage) per round: skopeo remembers where it pushed
      // blobs (its blob-info cache) and would mount them instead of uploading in later rounds.
      await reg.stop();
      await rm(join(scratch.mnt, "registry"), { recursive: true, force: true });
      const registry = await startRegistry(join(scratch.mnt, "registry"));
      reg.stop = registry.stop;
      const skopeoRef = `${registry.host}/skopeo/bench${round}:v1`;
      const berthRef = `${registry.host}/berth/bench${round}:v1`;
      const push = [
        ["skopeo push", () => timed("skopeo", ["copy", "-q", "--dest-tls-verify=false", `oci:${layout}:bench`, `docker://${skopeoRef}`])],
        ["berth push", () => timed(process.execPath, [fileURLToPath(import.meta.url), "worker", "push", layout, berthRef])],
      ];
      if (withStore) {
        const cliRef = `${registry.host}/berthcli/bench${round}:v1`;
        timed(process.execPath, [fileURLToPath(import.meta.url), "worker", "tag", srcStore, cliRef]);
        push.push(["berth push (CLI, store)", () => timed(process.execPath, [berthBin, "--root", srcStore, "push", "-q", cliRef])]);
      }
      if (round % 2 === 0) push.reverse();
      for (const [name, fn] of push) results[name].push(fn());
      unmountUnder(out);
      await rm(out, { recursive: true, force: true });
      await mkdir(out, { recursive: true });
      const pull = [
        ["skopeo pull", () => timed("skopeo", ["copy", "-q", "--src-tls-verify=false", `docker://${skopeoRef}`, `oci:${join(out, `skopeo${round}`)}:bench`])],
        ["berth pull", () => timed(process.execPath, [fileURLToPath(import.meta.url), "worker", "pull", berthRef, join(out, `berth${round}`)])],
      ];
      if (withStore) {
        const cliRef = `${registry.host}/berthcli/bench${round}:v1`;
        pull.push(["berth pull (CLI, store)", () => timed(process.execPath, [berthBin, "--root", join(out, `store${round}`), "pull", "-q", cliRef])]);
        const cs = join(out, `cs${round}`);
        pull.push(["skopeo pull (c/storage)", () => timed("skopeo", ["copy", "-q", "--src-tls-verify=false", `docker://${skopeoRef}`, `containers-storage:[overlay@${cs}/root+${cs}/run]bench:v1`])]);
      }
      if (round % 2 === 0) pull.reverse();
      for (const [name, fn] of pull) results[name].push(fn());
      // the pulled copies must be byte-identical to the source
      for (const tool of ["skopeo", "berth"]) {
        const dir = join(out, `${tool}${round}`, "blobs/sha256");
        for (const d of JSON.parse(await readFile(join(layout, "index.json"), "utf8")).manifests) {
          const m = JSON.parse(await readFile(join(layout, "blobs/sha256", d.digest.slice(7)), "utf8"));
          for (const l of m.layers) if ((await stat(join(dir, l.digest.slice(7)))).size !== l.size) throw new Error(`${tool} pulled a wrong ${l.digest}`);
        }
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(`\n${LAYERS} layers, ${(total / 2 ** 20).toFixed(0)} MiB compressed, loopback, ${ROUNDS} rounds, berth concurrency ${CONCURRENCY}`);
    // On a shared machine the minimum is the better estimate of a tool's own cost; both shown.
    console.log(`load average at the end: ${readFileSyncSafe("/proc/loadavg").split(" ").slice(0, 3).join(" ")}`);
    console.log(`${"operation".padEnd(24)} median s   MiB/s    min s   MiB/s   all runs (s)`);
    for (const [name, xs] of Object.entries(results)) {
      const m = median(xs);
      const lo = Math.min(...xs);
      const rate = (t) => (total / 2 ** 20 / t).toFixed(0).padStart(7);
      console.log(`${name.padEnd(24)} ${m.toFixed(2).padStart(8)} ${rate(m)} ${lo.toFixed(2).padStart(8)} ${rate(lo)}   ${xs.map((x) => x.toFixed(2)).join(" ")}`);
    }
    for (const name of Object.keys(results).filter((n) => n.startsWith("berth"))) {
      const op = name.includes("push") ? "push" : "pull";
      const skopeoName = name === "berth pull (CLI, store)" ? "skopeo pull (c/storage)" : `skopeo ${op}`;
      const ratio = median(results[skopeoName]) / median(results[name]);
      const ratioMin = Math.min(...results[skopeoName]) / Math.min(...results[name]);
      console.log(`${name}: ${ratio.toFixed(2)}x (median) / ${ratioMin.toFixed(2)}x (min) the speed of ${skopeoName}`);
    }
  } finally {
    await reg.stop();
    unmountUnder(scratch.mnt);
    await scratch.unmount();
    await rm(work, { recursive: true, force: true });
  }
}

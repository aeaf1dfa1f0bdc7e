import { execFile } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../../src/store/index.js";
import { importRootfs } from "../../../src/image/index.js";
import { busyboxTarball } from "../../helpers/busybox.js";
import { startRegistry, type RegistryFixture } from "../../helpers/registry.js";

const BERTH = join(import.meta.dirname, "../../../bin/berth");

function berth(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BERTH, ...args], { env: { ...process.env, BERTH_ROOT: "" }, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
    });
  });
}

/**
 * A layer blob in the registry with the right size and other bytes (one byte flipped in the
 * registry's own storage): the pull fails naming the digest, and leaves no image, no layer and
 * no temp file. The flipped byte's place decides who notices first: gunzip (corrupt deflate
 * data), the tar reader, or only the digest check at the end of the download. A small layer is
 * downloaded whole into the first read-ahead buffer before the importer looks at it.
 */
describe("berth pull of a layer whose content does not match its digest", () => {
  let reg: RegistryFixture;
  let work: string;
  beforeAll(async () => {
    reg = await startRegistry();
    work = await mkdtemp(join(tmpdir(), "berth-corrupt-pull-"));
  });
  afterAll(async () => {
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  });

  // where the byte flips: a fraction of the blob, or bytes from its end (gzip's CRC and size)
  it.each([0.001, 0.5, 0.99, -1, -8])("a byte flipped at %s: non-zero exit naming the digest, store unchanged", async (at) => {
    const src = join(work, `src-${at}`);
    const ref = `${reg.host}/berth/corrupt-${String(at).replace(/[^0-9]/g, "")}:v1`;
    const s = await openStore(src);
    // a layer of its own per case (the registry shares blobs between repositories)
    const image = await importRootfs(s, createReadStream(busyboxTarball()), { source: "busybox.tar", tag: ref, changes: [`LABEL case=${at}`] });
    const snap = await s.prepareSnapshot(image.layers.map((l) => l.diffId));
    await writeFile(join(snap.upperDir, "case.txt"), `case ${at}\n`.repeat(2000));
    const top = await s.commitSnapshot(snap);
    await s.createImage({ ...image.config, rootfs: { type: "layers", diff_ids: [...image.config.rootfs.diff_ids, top.diffId] } }, { tags: [ref] });
    const pushed = await berth(["--root", src, "push", ref]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const layer = (await s.resolveImage(ref)).manifest.layers.at(-1)!.digest;
    const data = join(reg.storageDir, "docker/registry/v2/blobs/sha256", layer.slice(7, 9), layer.slice(7), "data");
    const bytes = await readFile(data);
    bytes[at < 0 ? bytes.length + at : Math.floor(bytes.length * at)]! ^= 0xff;
    await writeFile(data, bytes);

    const dst = join(work, `dst-${at}`);
    const res = await berth(["--root", dst, "pull", ref]);
    expect(res.code, res.stderr).not.toBe(0);
    expect(res.stderr).toContain(layer);
    expect(res.stderr).toMatch(/digest mismatch|corrupt gzip data/);
    expect(res.stdout).not.toContain("Downloaded newer image");
    expect(await readdir(join(dst, "tmp"))).toEqual([]);
    expect(await readdir(join(dst, "images"))).toEqual([]);
    const d = await openStore(dst);
    expect(await d.layer(top.diffId)).toBeUndefined();
  });

  it("a config blob with other bytes: non-zero exit naming its digest, store unchanged", async () => {
    const src = join(work, "src-config");
    const ref = `${reg.host}/berth/corrupt-config:v1`;
    const s = await openStore(src);
    await importRootfs(s, createReadStream(busyboxTarball()), { source: "busybox.tar", tag: ref, changes: ["LABEL case=config"] });
    const pushed = await berth(["--root", src, "push", ref]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const config = (await s.resolveImage(ref)).manifest.config.digest;
    const data = join(reg.storageDir, "docker/registry/v2/blobs/sha256", config.slice(7, 9), config.slice(7), "data");
    const bytes = await readFile(data);
    bytes[bytes.length >> 1]! ^= 0x01;
    await writeFile(data, bytes);
    const dst = join(work, "dst-config");
    const res = await berth(["--root", dst, "pull", ref]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(`digest mismatch: unexpected content digest sha256:`);
    expect(res.stderr).toContain(`expected ${config}`);
    expect(await readdir(join(dst, "tmp"))).toEqual([]);
    expect(await readdir(join(dst, "images"))).toEqual([]);
    expect(await readdir(join(dst, "blobs", "sha256"))).toEqual([]);
  });
});

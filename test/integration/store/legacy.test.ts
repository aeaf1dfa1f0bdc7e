import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as tar from "tar-stream";
import { busyboxTarball } from "../../helpers/busybox.js";
import { berth, ok } from "./helpers.js";

const work = mkdtempSync("/tmp/berth-store-legacy-");
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

async function tarBytes(entries: { name: string; type?: tar.Header["type"]; linkname?: string; body?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? "file", linkname: e.linkname, mode: 0o644, mtime: new Date(0) }, e.body ?? "");
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A pre-Docker-25 `docker save` layout: <v1 id>/layer.tar, <config hex>.json, symlinked shared layers. */
function legacyArchive(name: string, layers: Buffer[], tags: string[][]): string {
  const dir = join(work, name);
  mkdirSync(dir);
  const entries: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  const v1ids = layers.map((l, i) => sha(Buffer.concat([l, Buffer.from(String(i))])));
  layers.forEach((l, i) => {
    mkdirSync(join(dir, v1ids[i]!));
    writeFileSync(join(dir, v1ids[i]!, "layer.tar"), l);
    writeFileSync(join(dir, v1ids[i]!, "VERSION"), "1.0");
    writeFileSync(join(dir, v1ids[i]!, "json"), "{}");
  });
  for (const [i, t] of tags.entries()) {
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", created: "2024-01-01T00:00:00Z", config: { Cmd: ["sh"], Env: [`N=${i}`] }, rootfs: { type: "layers", diff_ids: layers.map((l) => `sha256:${sha(l)}`) }, history: layers.map(() => ({ created_by: "legacy" })) }));
    writeFileSync(join(dir, `${sha(config)}.json`), config);
    // the second image shares the layer through a symlinked dir, as old docker save did
    const layerPaths = layers.map((_, j) => (i === 0 ? `${v1ids[j]}/layer.tar` : `dup${i}-${j}/layer.tar`));
    if (i > 0) layers.forEach((_, j) => { mkdirSync(join(dir, `dup${i}-${j}`)); symlinkSync(`../${v1ids[j]}/layer.tar`, join(dir, `dup${i}-${j}`, "layer.tar")); });
    entries.push({ Config: `${sha(config)}.json`, RepoTags: t, Layers: layerPaths });
  }
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(entries));
  execFileSync("tar", ["-C", dir, "-cf", `${dir}.tar`, ...readdirSync(dir)]);
  return `${dir}.tar`;
}

describe("legacy docker save archives and hostile layers inside archives", () => {
  it("loads the legacy layout with symlinked layers, all tags restored", () => {
    const archive = legacyArchive("legacy", [readFileSync(busyboxTarball())], [["old/one:1", "old/one:latest"], ["old/two:2"]]);
    const root = join(work, "r1");
    expect(ok(root, ["load", "-i", archive])).toBe("Loaded image: old/one:1\nLoaded image: old/one:latest\nLoaded image: old/two:2\n");
    expect(ok(root, ["images", "--format", "{{.Repository}}:{{.Tag}}"]).trim().split("\n").sort()).toEqual(["old/one:1", "old/one:latest", "old/two:2"]);
    expect(ok(root, ["system", "check"])).toMatch(/no problems/);
  });

  it.each([
    ["traversal", [{ name: "../../evil", body: "x" }]],
    ["symlink escape", [{ name: "l", type: "symlink" as const, linkname: "/" }, { name: "l/evil", body: "x" }]],
    ["hardlink escape", [{ name: "h", type: "link" as const, linkname: "../../../etc/passwd" }]],
  ])("refuses an archive whose layer has a %s, leaving the store as it was", async (_n, entries) => {
    const root = join(work, `r-${_n.replace(/ /g, "-")}`);
    // in the first case the good layer is new, so a rollback has to remove it again
    if (_n === "traversal") ok(root, ["images"]);
    else ok(root, ["import", busyboxTarball(), "before:1"]);
    const listing = (): string => execFileSync("sh", ["-c", `cd ${root} && find . -path ./locks -prune -o -print | sort`], { encoding: "utf8" });
    const before = listing();
    const evil = await tarBytes(entries);
    const archive = legacyArchive(`evil-${_n.replace(/ /g, "-")}`, [readFileSync(busyboxTarball()), evil], [["evil:1"]]);
    const r = berth(root, ["load", "-i", archive]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/evil.*layer.*(escapes|symbolic link)/);
    expect(listing()).toBe(before);
    expect(ok(root, ["system", "check"])).toMatch(/no problems/);
  });
});

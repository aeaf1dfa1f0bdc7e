import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { busyboxTarball } from "../../helpers/busybox.js";
import { ok } from "./helpers.js";

const hasSkopeo = existsSync("/usr/bin/skopeo");
const work = mkdtempSync("/tmp/berth-store-interop-");
afterAll(() => rmSync(work, { recursive: true, force: true }));

const skopeo = (...args: string[]): string => execFileSync("skopeo", ["--insecure-policy", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

describe.skipIf(!hasSkopeo)("interop with skopeo", () => {
  const root = join(work, "root");
  const saved = join(work, "saved.tar");
  let id = "";
  let diffId = "";

  it("skopeo reads berth's save as docker-archive and as oci-archive", () => {
    id = ok(root, ["import", busyboxTarball(), "interop/bb:1"]).trim();
    diffId = (JSON.parse(ok(root, ["inspect", id]))[0].RootFS.Layers as string[])[0]!;
    ok(root, ["save", "-o", saved, "interop/bb:1"]);
    const docker = JSON.parse(skopeo("inspect", `docker-archive:${saved}`)) as { RepoTags: string[]; Layers: string[]; Os: string };
    expect(docker.Os).toBe("linux");
    const cfg = JSON.parse(skopeo("inspect", "--config", `docker-archive:${saved}`)) as { rootfs: { diff_ids: string[] } };
    expect(cfg.rootfs.diff_ids).toEqual([diffId]);
    const oci = JSON.parse(skopeo("inspect", "--raw", `oci-archive:${saved}`)) as { config: { digest: string } };
    expect(oci.config.digest).toBe(id);
  });

  it("loads what skopeo copy writes: docker-archive, oci-archive, gzip OCI layout", () => {
    const cases: [string, string, string][] = [
      ["docker-archive", `docker-archive:${join(work, "sk-docker.tar")}:sk/docker:1`, "sk/docker:1"],
      ["oci-archive", `oci-archive:${join(work, "sk-oci.tar")}:sk/oci:2`, "sk/oci:2"],
    ];
    for (const [name, dest, tag] of cases) {
      skopeo("copy", `oci-archive:${saved}`, dest);
      const file = dest.split(":")[1]!;
      const target = join(work, `load-${name}`);
      expect(ok(target, ["load", "-i", file])).toBe(`Loaded image: ${tag}\n`);
      const [img] = JSON.parse(ok(target, ["inspect", tag])) as { Id: string }[];
      expect(img!.Id, name).toBe(id);
      expect(ok(target, ["system", "check"])).toMatch(/no problems/);
    }
    // an OCI image layout with gzip-compressed layers, tarred
    const layout = join(work, "layout");
    skopeo("copy", "--dest-compress", `docker-archive:${saved}`, `oci:${layout}:gz/img:3`);
    execFileSync("tar", ["-C", layout, "-cf", `${layout}.tar`, "."]);
    const target = join(work, "load-gzip");
    expect(ok(target, ["load", "-i", `${layout}.tar`])).toBe("Loaded image: gz/img:3\n");
    const [img] = JSON.parse(ok(target, ["inspect", "gz/img:3"])) as { Id: string; RootFS: { Layers: string[] } }[];
    expect(img!.RootFS.Layers).toEqual([diffId]);
    // saving the gzip-layered image again gives an archive skopeo reads
    ok(target, ["save", "-o", join(work, "resaved.tar"), "gz/img:3"]);
    expect(JSON.parse(skopeo("inspect", "--config", `docker-archive:${join(work, "resaved.tar")}`)).rootfs.diff_ids).toEqual([diffId]);
  });
});

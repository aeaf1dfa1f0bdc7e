import { createReadStream, existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { importRootfs } from "../../../src/image/index.js";
import { emulatorState } from "../../../src/runtime/emulation.js";
import { openStore } from "../../../src/store/index.js";
import { foreignBusyboxTarball } from "../../helpers/foreign-busybox.js";
import { startRegistry, type RegistryFixture } from "../../helpers/registry.js";
import { berthCli, workspace, writeContext } from "./helpers.js";

/**
 * Multi-platform images for real: an arm64 busybox from Debian's busybox-static:arm64, RUN
 * steps and containers through qemu-user-static (registered by `berth system binfmt
 * --install`), a two-platform build stored as an OCI index, pushed to a local registry and
 * pulled back per platform into other stores.
 */
let ws: Awaited<ReturnType<typeof workspace>>;
let root: string;
let reg: RegistryFixture;

beforeAll(async () => {
  ws = await workspace("platform");
  root = ws.store.root;
  await importRootfs(ws.store, createReadStream(foreignBusyboxTarball("arm64")), { source: "busybox-arm64.tar", tag: "bb:arm64", platform: { os: "linux", architecture: "arm64" } });
  await ws.store.tag("bb:amd64", await ws.store.resolveImageId("busybox"));
  const installed = berthCli(root, ["system", "binfmt", "--install"]);
  expect(installed.status, installed.stderr).toBe(0);
  expect(JSON.parse(installed.stdout).supported).toContain("linux/arm64");
  reg = await startRegistry();
}, 300_000);

afterAll(async () => {
  await reg?.stop();
  ws?.cleanup();
});

const MULTI = `
ARG TARGETARCH
FROM --platform=$BUILDPLATFORM bb:amd64 AS tools
RUN uname -m > /built-on
FROM bb:$TARGETARCH
ARG TARGETPLATFORM BUILDPLATFORM TARGETARCH TARGETVARIANT
COPY --from=tools /built-on /built-on
RUN echo "$TARGETPLATFORM/$TARGETARCH/$TARGETVARIANT from $BUILDPLATFORM: $(uname -m), tools on $(cat /built-on)" > /info
CMD ["cat", "/info"]
`;

describe("platforms", () => {
  it("an arm64 image runs through QEMU (uname -m is aarch64); --platform that does not match is Docker's error", () => {
    const r = berthCli(root, ["run", "--rm", "bb:arm64", "uname", "-m"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("aarch64\n");
    const wrong = berthCli(root, ["run", "--rm", "--pull", "never", "--platform", "linux/arm64", "bb:amd64", "true"]);
    expect(wrong.status).toBe(125);
    expect(wrong.stderr).toContain("image with reference bb:amd64 was found but does not match the specified platform: wanted linux/arm64, actual: linux/amd64");
    const bad = berthCli(root, ["run", "--rm", "--platform", "linux/armz", "bb:arm64", "true"]);
    expect(bad.status).toBe(125);
    expect(bad.stderr).toContain('"linux/armz": unknown architecture');
    expect(berthCli(root, ["images", "--format", "{{.Repository}}:{{.Tag}} {{.Platform}}", "bb"]).stdout.split("\n").sort().filter(Boolean)).toEqual(["bb:amd64 linux/amd64", "bb:arm64 linux/arm64"]);
    expect(JSON.parse(berthCli(root, ["image", "inspect", "bb:arm64"]).stdout)[0].Architecture).toBe("arm64");
  });

  it("an architecture without a registered emulator: run and RUN fail before runc, naming the handler and what to do", async () => {
    expect(emulatorState({ os: "linux", architecture: "arm64" })).toMatchObject({ name: "qemu-aarch64", registered: true, enabled: true, fixBinary: true });
    // QEMU has no wasm emulator: nothing registers qemu-wasm
    const imported = berthCli(root, ["import", "--platform", "linux/wasm", foreignBusyboxTarball("arm64"), "bb:wasm"]);
    expect(imported.status, imported.stderr).toBe(0);
    const how = "no emulator is registered for it (/proc/sys/fs/binfmt_misc/qemu-wasm is missing); install Debian's qemu-user-static and run `berth system binfmt --install`";
    const run = berthCli(root, ["run", "--rm", "bb:wasm", "true"]);
    expect(run.status).toBe(125);
    expect(run.stderr).toContain(`image bb:wasm is linux/wasm and this machine is linux/amd64: ${how}`);
    expect(berthCli(root, ["ps", "-a", "-q"]).stdout).toBe("");
    const build = berthCli(root, ["build", "--progress", "plain", "-"], { input: "FROM bb:wasm\nRUN true\n" });
    expect(build.status).toBe(1);
    expect(build.stderr).toContain(`the stage is linux/wasm and this machine is linux/amd64: ${how}`);
  });

  it("build --platform linux/arm64,linux/amd64: one index, each platform's RUN on its architecture; run picks the host's or --platform's; save/load keep it", async () => {
    const ctx = writeContext(mkdtempSync(join(ws.dir, "ctx-")), { Dockerfile: MULTI });
    const built = berthCli(root, ["build", "--progress", "plain", "--platform", "linux/arm64,linux/amd64", "-t", "multi:1", ctx]);
    expect(built.status, built.stderr).toBe(0);
    expect(built.stderr).toMatch(/\[linux\/arm64 stage-1 \d\/\d\] RUN echo/);
    expect(built.stderr).toMatch(/\[linux\/amd64 stage-1 \d\/\d\] RUN echo/);
    const host = berthCli(root, ["run", "--rm", "multi:1"]);
    expect(host.stdout).toBe("linux/amd64/amd64/ from linux/amd64: x86_64, tools on x86_64\n");
    const arm = berthCli(root, ["run", "--rm", "--platform", "linux/arm64/v8", "multi:1"]);
    expect(arm.stderr).toBe("");
    expect(arm.stdout).toBe("linux/arm64/arm64/ from linux/amd64: aarch64, tools on x86_64\n");
    // both images are listed under the tag, with their platforms
    const listed = berthCli(root, ["images", "multi"]).stdout.split("\n");
    expect(listed[0]).toMatch(/PLATFORM$/);
    expect(listed.filter((l) => l.startsWith("multi ")).map((l) => l.split(/\s+/).at(-1)).sort()).toEqual(["linux/amd64", "linux/arm64"]);
    // a platform the index lacks
    const none = berthCli(root, ["run", "--rm", "--pull", "never", "--platform", "linux/s390x", "multi:1"]);
    expect(none.status).toBe(125);
    expect(none.stderr).toContain("wanted linux/s390x, actual: linux/arm64, linux/amd64");
    // save keeps the index (nested in index.json) and every platform; load brings it back whole
    const archive = join(ws.dir, "multi.tar");
    const saved = berthCli(root, ["save", "-o", archive, "multi:1"]);
    expect(saved.status, saved.stderr).toBe(0);
    const loadedRoot = join(ws.dir, "loaded");
    const loaded = berthCli(loadedRoot, ["load", "-i", archive]);
    expect(loaded.status, loaded.stderr).toBe(0);
    expect(berthCli(loadedRoot, ["run", "--rm", "--platform", "linux/arm64", "multi:1"]).stdout).toBe("linux/arm64/arm64/ from linux/amd64: aarch64, tools on x86_64\n");
    expect(berthCli(loadedRoot, ["run", "--rm", "multi:1"]).stdout).toBe("linux/amd64/amd64/ from linux/amd64: x86_64, tools on x86_64\n");
    // a rebuild hits the cache for both platforms and makes the same index
    const again = berthCli(root, ["build", "-q", "--platform", "linux/arm64,linux/amd64", "-t", "multi:1", ctx]);
    expect(again.status, again.stderr).toBe(0);
    const first = await openStore(root);
    expect(again.stdout.trim()).toBe((await first.imageIndex("multi:1"))?.digest);
    expect((await openStore(loadedRoot).then((s) => s.imageIndex("multi:1")))?.digest).toBe(again.stdout.trim());
  }, 300_000);

  it("save --platform and load --platform keep only the platforms asked for; one platform is a plain image under the tag", async () => {
    const indexDigest = (await openStore(root).then((s) => s.imageIndex("multi:1")))!.digest;
    // one platform: the image itself under the tag (Docker's single-level export)
    const armTar = join(ws.dir, "multi-arm64.tar");
    const saved = berthCli(root, ["save", "--platform", "linux/arm64", "-o", armTar, "multi:1"]);
    expect(saved.status, saved.stderr).toBe(0);
    const armRoot = join(ws.dir, "saved-arm64");
    const loaded = berthCli(armRoot, ["load", "-i", armTar]);
    expect(loaded.stdout).toBe("Loaded image: multi:1\n");
    expect(berthCli(armRoot, ["images", "--format", "{{.Repository}}:{{.Tag}} {{.Platform}}"]).stdout).toBe("multi:1 linux/arm64\n");
    expect(berthCli(armRoot, ["run", "--rm", "multi:1", "uname", "-m"]).stdout).toBe("aarch64\n");
    expect(await openStore(armRoot).then((s) => s.imageIndex("multi:1"))).toBeUndefined();
    // all the index's platforms: the index itself, byte for byte
    const both = join(ws.dir, "multi-both.tar");
    expect(berthCli(root, ["save", "--platform", "linux/amd64,linux/arm64", "-o", both, "multi:1"]).status).toBe(0);
    const bothRoot = join(ws.dir, "saved-both");
    expect(berthCli(bothRoot, ["load", "-i", both]).status).toBe(0);
    expect((await openStore(bothRoot).then((s) => s.imageIndex("multi:1")))?.digest).toBe(indexDigest);
    // a platform the image lacks: Docker's words, exit 1, no file
    const none = join(ws.dir, "none.tar");
    const missing = berthCli(root, ["save", "--platform", "linux/s390x", "-o", none, "multi:1"]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("image with reference multi:1 was found but does not provide the specified platform (linux/s390x)");
    expect(existsSync(none)).toBe(false);
    const single = berthCli(root, ["save", "--platform", "linux/arm64", "-o", none, "bb:amd64"]);
    expect(single.status).toBe(1);
    expect(single.stderr).toContain("image with reference bb:amd64 was found but does not provide the specified platform (linux/arm64)");

    // load --platform from the whole archive: only that platform, tagged; the rest is not stored
    const archive = join(ws.dir, "multi.tar");
    const picked = join(ws.dir, "load-arm64");
    const l = berthCli(picked, ["load", "--platform", "linux/arm64", "-i", archive]);
    expect(l.status, l.stderr).toBe(0);
    expect(l.stdout).toBe("Loaded image: multi:1\n");
    expect(berthCli(picked, ["images", "-a", "--format", "{{.Repository}}:{{.Tag}} {{.Platform}}"]).stdout).toBe("multi:1 linux/arm64\n");
    expect(berthCli(picked, ["run", "--rm", "multi:1", "uname", "-m"]).stdout).toBe("aarch64\n");
    const host = join(ws.dir, "load-amd64");
    expect(berthCli(host, ["load", "--platform", "linux/amd64", "-i", archive]).status).toBe(0);
    expect(berthCli(host, ["images", "-a", "--format", "{{.Repository}}:{{.Tag}} {{.Platform}}"]).stdout).toBe("multi:1 linux/amd64\n");
    const wrong = join(ws.dir, "load-s390x");
    const w = berthCli(wrong, ["load", "--platform", "linux/s390x", "-i", archive]);
    expect(w.status).toBe(1);
    expect(w.stderr).toContain("image multi:1 doesn't provide the requested platform ([linux/s390x])");
    expect(berthCli(wrong, ["images", "-a", "-q"]).stdout).toBe("");
    const bad = berthCli(wrong, ["load", "--platform", "linux/armz", "-i", archive]);
    expect(bad.status).toBe(125);
    expect(bad.stderr).toContain('"linux/armz": unknown architecture');
  }, 300_000);

  it("inspect shows this machine's image or --platform's; tag of a multi-platform tag tags the index; rmi of its last tag removes every platform's image; rmi --platform --force one platform", async () => {
    const r = join(ws.dir, "rmi");
    expect(berthCli(r, ["load", "-q", "-i", join(ws.dir, "multi.tar")]).status).toBe(0);
    const ids = berthCli(r, ["images", "-a", "-q", "--no-trunc"]).stdout.trim().split("\n").sort();
    expect(ids).toHaveLength(2);
    // inspect: this machine's image, the index as its descriptor; --platform another's
    const host = JSON.parse(berthCli(r, ["image", "inspect", "multi:1"]).stdout)[0];
    expect([host.Architecture, host.RepoTags, host.Descriptor.mediaType]).toEqual(["amd64", ["multi:1"], "application/vnd.oci.image.index.v1+json"]);
    const arm = JSON.parse(berthCli(r, ["image", "inspect", "--platform", "linux/arm64", "multi:1"]).stdout)[0];
    expect([arm.Architecture, arm.RepoTags, arm.Descriptor.mediaType]).toEqual(["arm64", ["multi:1"], "application/vnd.oci.image.manifest.v1+json"]);
    expect(ids).toContain(arm.Id);
    const s390x = berthCli(r, ["image", "inspect", "--platform", "linux/s390x", "multi:1"]);
    expect(s390x.status).toBe(1);
    expect(s390x.stderr).toContain("wanted linux/s390x, actual: linux/arm64, linux/amd64");
    expect(berthCli(r, ["tag", "multi:1", "other:1"]).status).toBe(0);
    expect(berthCli(r, ["images", "--format", "{{.Repository}}:{{.Tag}} {{.Platform}}", "other"]).stdout.split("\n").filter(Boolean).sort()).toEqual(["other:1 linux/amd64", "other:1 linux/arm64"]);
    // another tag keeps the multi-platform image: only the tag goes
    expect(berthCli(r, ["rmi", "multi:1"]).stdout).toBe("Untagged: multi:1\n");
    expect(berthCli(r, ["images", "-a", "-q", "--no-trunc"]).stdout.trim().split("\n").sort()).toEqual(ids);
    // a container of the arm64 image: refused, as for a single image
    const created = berthCli(r, ["create", "--platform", "linux/arm64", "other:1"]);
    expect(created.status, created.stderr).toBe(0);
    const refused = berthCli(r, ["rmi", "other:1"]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/conflict: unable to remove repository reference "other:1" \(must force\) - container [0-9a-f]{12} is using its referenced image/);
    expect(berthCli(r, ["rm", created.stdout.trim()]).status).toBe(0);
    const removed = berthCli(r, ["rmi", "other:1"]);
    expect(removed.status, removed.stderr).toBe(0);
    expect(removed.stdout.split("\n").filter(Boolean).sort()).toEqual(["Untagged: other:1", ...ids.map((id) => `Deleted: ${id}`)].sort());
    expect(berthCli(r, ["images", "-a", "-q"]).stdout).toBe("");
    // their layers and blobs went with them
    const store = await openStore(r);
    expect(await store.layers.listRecords()).toEqual([]);
    expect(readdirSync(store.blobs.dir)).toEqual([]);

    // --platform: one platform's image goes, the tag stays on the rest (with --force, as Docker)
    expect(berthCli(r, ["load", "-q", "-i", join(ws.dir, "multi.tar")]).status).toBe(0);
    const noForce = berthCli(r, ["rmi", "--platform", "linux/arm64", "multi:1"]);
    expect(noForce.status).toBe(1);
    expect(noForce.stderr).toContain("Use --force to force delete");
    const armManifest = JSON.parse(berthCli(r, ["image", "inspect", "--platform", "linux/arm64", "multi:1"]).stdout)[0].Descriptor.digest;
    const one = berthCli(r, ["rmi", "--force", "--platform", "linux/arm64", "multi:1"]);
    expect(one.status, one.stderr).toBe(0);
    expect(one.stdout).toBe(`Deleted: ${armManifest}\n`);
    expect(berthCli(r, ["images", "-a", "--format", "{{.Repository}}:{{.Tag}} {{.Platform}}"]).stdout).toBe("multi:1 linux/amd64\n");
    expect(berthCli(r, ["run", "--rm", "multi:1", "uname", "-m"]).stdout).toBe("x86_64\n");
    const absent = berthCli(r, ["rmi", "--force", "--platform", "linux/arm64", "multi:1"]);
    expect(absent.status).toBe(1);
    expect(absent.stderr).toContain("does not match the specified platform: wanted linux/arm64, actual: linux/amd64");
  }, 300_000);

  it("push sends the index and every image; pull on other stores picks the host, --platform, or --all-platforms; manifest inspect shows the index", async () => {
    const ref = `${reg.host}/berth/multi:1`;
    // tag of a multi-platform tag: the new tag names the index too
    expect(berthCli(root, ["tag", "multi:1", ref]).status).toBe(0);
    const pushed = berthCli(root, ["push", ref]);
    expect(pushed.status, pushed.stderr).toBe(0);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
    expect(digest).toBeDefined();

    const inspected = berthCli(root, ["manifest", "inspect", ref]);
    expect(inspected.status, inspected.stderr).toBe(0);
    const index = JSON.parse(inspected.stdout) as { mediaType: string; manifests: { platform: { architecture: string } }[] };
    expect(index.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(index.manifests.map((m) => m.platform.architecture)).toEqual(["arm64", "amd64"]);

    for (const [platform, uname] of [["linux/arm64", "aarch64"], ["linux/amd64", "x86_64"], [undefined, "x86_64"]] as const) {
      const other = join(ws.dir, `pulled-${platform?.replace("/", "-") ?? "host"}`);
      const pulled = berthCli(other, ["pull", ...(platform !== undefined ? ["--platform", platform] : []), ref]);
      expect(pulled.status, pulled.stderr).toBe(0);
      const run = berthCli(other, ["run", "--rm", ref, "uname", "-m"]);
      expect(run.stdout).toBe(`${uname}\n`);
    }

    const all = join(ws.dir, "pulled-all");
    const pulledAll = berthCli(all, ["pull", "--all-platforms", ref]);
    expect(pulledAll.status, pulledAll.stderr).toBe(0);
    expect(pulledAll.stdout).toContain(digest!);
    expect(berthCli(all, ["run", "--rm", "--platform", "linux/arm64", ref, "uname", "-m"]).stdout).toBe("aarch64\n");
    expect(berthCli(all, ["run", "--rm", ref, "uname", "-m"]).stdout).toBe("x86_64\n");
    const store = await openStore(all);
    expect((await store.imageIndex(ref))?.digest).toBe(digest);
    // pushed back from there, the index is the same
    const repushed = berthCli(all, ["push", ref]);
    expect(repushed.status, repushed.stderr).toBe(0);
    expect(repushed.stdout).toContain(digest!);
  }, 300_000);

  it("other architectures binfmt --install registers run too: arm/v7 (armv7l) and s390x busybox from Debian", () => {
    for (const [debian, platform, uname] of [["armhf", "linux/arm/v7", "armv7l"], ["s390x", "linux/s390x", "s390x"]] as const) {
      const imported = berthCli(root, ["import", "--platform", platform, foreignBusyboxTarball(debian), `bb:${debian}`]);
      expect(imported.status, imported.stderr).toBe(0);
      const r = berthCli(root, ["run", "--rm", `bb:${debian}`, "uname", "-m"]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe(`${uname}\n`);
    }
  }, 300_000);

  it("push of a multi-platform tag to a registry that wants a login: refused without one, the index and every image after it", async () => {
    const authReg = await startRegistry({ auth: "htpasswd" });
    try {
      const env = { DOCKER_CONFIG: mkdtempSync(join(ws.dir, "docker-config-")) };
      const ref = `${authReg.host}/private/multi:1`;
      expect(berthCli(root, ["tag", "multi:1", ref]).status).toBe(0);
      const denied = berthCli(root, ["push", ref], { env });
      expect(denied.status).toBe(1);
      expect(denied.stderr).toContain(`berth login ${authReg.host}`);
      const login = berthCli(root, ["login", "-u", authReg.username, "--password-stdin", authReg.host], { env, input: authReg.password });
      expect(login.status, login.stderr).toBe(0);
      const pushed = berthCli(root, ["push", ref], { env });
      expect(pushed.status, pushed.stderr).toBe(0);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
      expect(digest).toBe((await openStore(root).then((s) => s.imageIndex(ref)))?.digest);
      const other = join(ws.dir, "pulled-auth");
      const pulled = berthCli(other, ["pull", "--all-platforms", ref], { env });
      expect(pulled.status, pulled.stderr).toBe(0);
      expect(berthCli(other, ["run", "--rm", "--platform", "linux/arm64", ref, "uname", "-m"]).stdout).toBe("aarch64\n");
      expect((await openStore(other).then((s) => s.imageIndex(ref)))?.digest).toBe(digest);
    } finally {
      await authReg.stop();
    }
  }, 300_000);

  it("a shared cache of several platforms is one artifact (BuildKit's): exported once, each platform's steps hit from it in another store", () => {
    const ctx = writeContext(mkdtempSync(join(ws.dir, "ctx-")), { Dockerfile: "ARG TARGETARCH\nFROM bb:$TARGETARCH\nRUN uname -m > /m\n" });
    const cache = join(ws.dir, "cache");
    const exported = berthCli(root, ["build", "--progress", "plain", "--platform", "linux/arm64,linux/amd64", "--cache-to", `type=local,dest=${cache},mode=max`, ctx]);
    expect(exported.status, exported.stderr).toBe(0);
    expect(exported.stderr.match(/exporting cache to client directory/g)).toHaveLength(1);
    const layout = JSON.parse(readFileSync(join(cache, "index.json"), "utf8")) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    expect(layout.manifests.map((m) => m.annotations["org.opencontainers.image.ref.name"])).toEqual(["latest"]);
    // its layers: both platforms' RUN layers
    const manifest = JSON.parse(readFileSync(join(cache, "blobs/sha256", layout.manifests[0]!.digest.slice(7)), "utf8")) as { layers: unknown[] };
    expect(manifest.layers).toHaveLength(2);
    // the same bases elsewhere (save/load keeps image IDs), the cache from the folder
    const bases = join(ws.dir, "bases.tar");
    expect(berthCli(root, ["save", "-o", bases, "bb:arm64", "bb:amd64"]).status).toBe(0);
    const other = join(ws.dir, "cache-user");
    expect(berthCli(other, ["load", "-i", bases]).status).toBe(0);
    const imported = berthCli(other, ["build", "--progress", "plain", "--platform", "linux/arm64,linux/amd64", "--cache-from", `type=local,src=${cache}`, ctx]);
    expect(imported.status, imported.stderr).toBe(0);
    const runs = imported.stderr.match(/^#(\d+) \[linux\/\w+ 2\/2\] RUN/gm) ?? [];
    expect(runs).toHaveLength(2);
    for (const r of runs) expect(imported.stderr).toContain(`${r.split(" ")[0]} CACHED`);
  }, 300_000);
});

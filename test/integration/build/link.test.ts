import { execFileSync } from "node:child_process";
import { lstatSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRenderer } from "../../../src/progress/index.js";
import { runTransient } from "../../../src/runtime/transient.js";
import type { ImageRecord, Store } from "../../../src/store/index.js";
import { readImageFile, runBuild, statImage, workspace, writeContext, type Built } from "./helpers.js";

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
beforeAll(async () => {
  ws = await workspace("link");
}, 60_000);
afterAll(() => ws?.cleanup());

/** path → "mode uid:gid" (and the link target or file content) of every entry in one layer dir. */
function layerListing(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel === "" ? name : `${rel}/${name}`;
      const st = lstatSync(join(dir, r));
      out[`/${r}`] = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}${st.isDirectory() ? "/" : ""}`;
      if (st.isDirectory()) walk(r);
    }
  };
  walk("");
  return out;
}

/** The build's `--progress=plain` text. */
function plain(r: Built): string {
  let text = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  const renderer = createRenderer("plain", sink);
  for (const e of r.events) renderer.handle(e);
  renderer.finish();
  return text;
}

/** The layer a step made, by its history text (history and layers line up, skipping empty_layer). */
function layerOf(image: ImageRecord, createdBy: string): { diffId: string; dir: string } {
  let i = 0;
  for (const h of image.config.history ?? []) {
    if (h.created_by === createdBy) return image.layers[i]!;
    if (h.empty_layer !== true) i++;
  }
  throw new Error(`no layer made by ${createdBy}`);
}

describe("COPY --link", () => {
  it("writes its layer as if onto an empty directory: fresh 0755 parents, no symlink of the parent followed", async () => {
    const ctx = writeContext(join(ws.dir, "layout"), {
      Dockerfile: [
        "FROM busybox",
        "RUN mkdir -p /opt/app /data && chmod 0700 /opt/app && chown 5:5 /opt/app && ln -s /data /opt/lnk",
        "WORKDIR /opt",
        "COPY --link f.txt app/f.txt",
        "COPY --link --chmod=640 f.txt lnk/",
        "COPY --link --chown=1234:2345 d/ lnk/sub/",
        "",
      ].join("\n"),
      "f.txt": "f\n",
      "d/x.txt": "x\n",
    });
    const r = await runBuild(ws, ctx);
    // The layer holds the copy and the parents it needs, made fresh (root, 0755): nothing of the
    // parent's 0700 5:5 /opt/app.
    expect(layerListing(layerOf(r.image, "COPY f.txt app/f.txt # buildkit").dir)).toEqual({
      "/opt": "755 0:0/",
      "/opt/app": "755 0:0/",
      "/opt/app/f.txt": "644 0:0",
    });
    // WORKDIR-relative; the parent's /opt/lnk symlink is not followed: the layer has a directory
    // there, made by the --chown user as BuildKit's CreateDestPath does.
    expect(layerListing(layerOf(r.image, "COPY --chown=1234:2345 d/ lnk/sub/ # buildkit").dir)).toEqual({
      "/opt": "755 1234:2345/",
      "/opt/lnk": "755 1234:2345/",
      "/opt/lnk/sub": "755 1234:2345/",
      "/opt/lnk/sub/x.txt": "644 1234:2345",
    });
    // Stacked on the parent, the linked layer's directories win (as in BuildKit's merged image).
    expect(statImage(r.image, "/opt/app")).toMatchObject({ type: "dir", uid: 0, gid: 0 });
    expect((statImage(r.image, "/opt/app")!.mode & 0o7777).toString(8)).toBe("755");
    expect(statImage(r.image, "/opt/lnk")?.type).toBe("dir");
    expect(await readImageFile(r.image, "/opt/lnk/sub/x.txt")).toBe("x\n");
    // --link with --chmod is an ordinary COPY in BuildKit (dockerfile2llb): it follows the symlink
    // of the parent it was written against.
    const chmodded = layerListing(layerOf(r.image, "COPY --chmod=640 f.txt lnk/ # buildkit").dir);
    expect(chmodded["/data/f.txt"]).toBe("640 0:0");
    expect(Object.keys(chmodded).filter((p) => p.startsWith("/opt/"))).toEqual([]);
  }, 120_000);

  it("ADD --link unpacks a local archive into a layer of its own, also without following the parent's symlinks", async () => {
    const ctx = writeContext(join(ws.dir, "add"), {
      Dockerfile: "FROM busybox\nRUN mkdir -p /real /srv && ln -s /real /srv/www\nADD --link t.tar /srv/www/\n",
      "src/in/t.txt": "t\n",
    });
    execFileSync("tar", ["-cf", join(ctx, "t.tar"), "-C", join(ctx, "src"), "in"]);
    const r = await runBuild(ws, ctx);
    expect(layerListing(layerOf(r.image, "ADD t.tar /srv/www/ # buildkit").dir)).toEqual({
      "/srv": "755 0:0/",
      "/srv/www": "755 0:0/",
      "/srv/www/in": "755 0:0/",
      "/srv/www/in/t.txt": "644 0:0",
    });
    expect(statImage(r.image, "/srv/www")?.type).toBe("dir");
    expect(await readImageFile(r.image, "/srv/www/in/t.txt")).toBe("t\n");
  }, 120_000);

  it("--chown with a name is refused with --link (BuildKit cannot resolve it either); root and numbers work", async () => {
    const bad = writeContext(join(ws.dir, "chown-name"), { Dockerfile: "FROM busybox\nCOPY --link --chown=app f.txt /f.txt\n", "f.txt": "f\n" });
    await expect(runBuild(ws, bad)).rejects.toThrow(/--chown=app cannot be used with --link.*numeric IDs/);
    const ok = writeContext(join(ws.dir, "chown-root"), { Dockerfile: "FROM busybox\nCOPY --link --chown=root:7 f.txt /f.txt\n", "f.txt": "f\n" });
    const r = await runBuild(ws, ok);
    expect(statImage(r.image, "/f.txt")).toMatchObject({ uid: 0, gid: 7 });
    // Without --link the name is resolved in the image's /etc/passwd.
    const plainCopy = writeContext(join(ws.dir, "chown-plain"), { Dockerfile: "FROM busybox\nCOPY --chown=app f.txt /f.txt\n", "f.txt": "f\n" });
    expect(statImage((await runBuild(ws, plainCopy)).image, "/f.txt")).toMatchObject({ uid: 1000, gid: 1000 });
  }, 120_000);

  it("after an earlier step changes, a --link COPY is CACHED and its layer is reused on the new parent; a plain COPY misses", async () => {
    const files = (copy: string, earlier: string) => ({
      Dockerfile: `FROM busybox\nRUN echo ${earlier} > /v\n${copy} a.txt /app/a.txt\nRUN cat /v /app/a.txt > /all\n`,
      "a.txt": "a\n",
    });
    const linked = join(ws.dir, "rebase-link");
    const ordinary = join(ws.dir, "rebase-plain");
    writeContext(linked, files("COPY --link", "one"));
    writeContext(ordinary, files("COPY", "one"));
    const first = await runBuild(ws, linked);
    await runBuild(ws, ordinary);
    const linkLayer = layerOf(first.image, "COPY a.txt /app/a.txt # buildkit");

    writeContext(linked, files("COPY --link", "two"));
    writeContext(ordinary, files("COPY", "two"));
    const second = await runBuild(ws, linked);
    const out = plain(second);
    expect(out).toMatch(/#(\d+) \[3\/4\] COPY --link a\.txt \/app\/a\.txt\n#\1 CACHED\n/);
    expect(second.cachedNames).toEqual(["[3/4] COPY --link a.txt /app/a.txt"]);
    // The step after it depends on the new parent too.
    expect(second.executedNames).toEqual(["[2/4] RUN echo two > /v", "[4/4] RUN cat /v /app/a.txt > /all"]);
    const reused = layerOf(second.image, "COPY a.txt /app/a.txt # buildkit");
    expect(reused.diffId).toBe(linkLayer.diffId);
    expect(second.image.layers.map((l) => l.diffId)).not.toContain(layerOf(first.image, "RUN /bin/sh -c echo one > /v # buildkit").diffId);
    expect(await readImageFile(second.image, "/all")).toBe("two\na\n");

    const secondPlain = await runBuild(ws, ordinary);
    // (the RUN before it is the same step as in the --link build: a hit through the shared store)
    expect(secondPlain.cachedNames).toEqual(["[2/4] RUN echo two > /v"]);
    expect(secondPlain.executedNames).toEqual(["[3/4] COPY a.txt /app/a.txt", "[4/4] RUN cat /v /app/a.txt > /all"]);

    // A no-op rebuild on the new parent hits everything, with the same image.
    const again = await runBuild(ws, linked);
    expect(again.executedSteps).toBe(0);
    expect(again.imageId).toBe(second.imageId);

    // Changing the copied file misses the link COPY and what follows, and says why.
    writeFileSync(join(linked, "a.txt"), "a2\n");
    const changed = await runBuild(ws, linked);
    expect(changed.executedNames).toEqual(["[3/4] COPY --link a.txt /app/a.txt", "[4/4] RUN cat /v /app/a.txt > /all"]);
    expect(changed.events.find((e) => e.type === "explain")).toMatchObject({ reasons: ["file a.txt changed"] });

    // The image runs and has the files.
    const snap = await ws.store.prepareSnapshot(changed.image.layers.map((l) => l.diffId));
    const stdout = new PassThrough();
    const chunks: Buffer[] = [];
    stdout.on("data", (c: Buffer) => chunks.push(c));
    try {
      const res = await runTransient({
        ...snap,
        process: { args: ["/bin/sh", "-c", "cat /all /app/a.txt && ls -ld /app | cut -c1-10"], env: ["PATH=/bin"] },
        network: "none",
        stdout,
        stateDir: ws.stateDir,
      });
      expect(res.exitCode).toBe(0);
    } finally {
      await ws.store.removeSnapshot(snap);
    }
    expect(Buffer.concat(chunks).toString()).toBe("two\na2\na2\ndrwxr-xr-x\n");
  }, 180_000);
});

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildError } from "../../../src/builder/index.js";
import type { Store } from "../../../src/store/index.js";
import { imageFs, readImageFile, runBuild, statImage, workspace, writeContext } from "./helpers.js";

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
let n = 0;
beforeAll(async () => {
  ws = await workspace("steps");
}, 60_000);
afterAll(() => ws?.cleanup());

function ctx(files: Record<string, string>): string {
  return writeContext(join(ws.dir, `c${n++}`), files);
}

/** Every file of every layer, to prove something is absent from all of them. */
async function allLayerText(layers: { dir: string }[]): Promise<string> {
  let out = "";
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out += readFileSync(p, "latin1");
    }
  };
  for (const l of layers) await walk(l.dir);
  return out;
}

describe("RUN", () => {
  it("deleting a base file makes a whiteout; replacing a directory makes it opaque", async () => {
    const r = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN rm /etc/group && rm -rf /home && mkdir -p /home/new && touch /home/new/x\n" }));
    expect(statImage(r.image, "/etc/group")).toBeUndefined();
    expect(statImage(r.image, "/etc/passwd")?.type).toBe("file");
    expect(imageFs(r.image).readdir("home")).toEqual(["new"]);
  }, 60_000);

  it("USER runs as the user (resolved via /etc/passwd) and files it makes are its own; WORKDIR is created for it", async () => {
    const r = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nUSER app\nWORKDIR /work/dir\nRUN id -u > /tmp/uid && touch mine\n" }));
    expect((await readImageFile(r.image, "/tmp/uid"))?.trim()).toBe("1000");
    expect(statImage(r.image, "/work/dir/mine")).toMatchObject({ uid: 1000, gid: 1000 });
    expect(statImage(r.image, "/work/dir")).toMatchObject({ uid: 1000, gid: 1000 });
  }, 60_000);

  it("SHELL changes the shell form; exec form runs as is; env and ARG values reach the process", async () => {
    const r = await runBuild(ws, ctx({
      Dockerfile: 'FROM busybox\nARG A=fromarg\nENV E=fromenv\nSHELL ["/bin/sh", "-e", "-c"]\nRUN echo "$A $E $0" > /s\nRUN ["/bin/sh", "-c", "echo exec > /e"]\n',
    }));
    expect((await readImageFile(r.image, "/s"))?.trim()).toBe("fromarg fromenv /bin/sh");
    expect((await readImageFile(r.image, "/e"))?.trim()).toBe("exec");
    const h = r.image.config.history!.map((x) => x.created_by);
    expect(h).toContain('RUN |1 A=fromarg /bin/sh -e -c echo "$A $E $0" > /s # buildkit');
    expect(h).toContain("RUN |1 A=fromarg /bin/sh -c echo exec > /e # buildkit");
    expect(r.image.config.config!.Env).not.toContain("A=fromarg");
  }, 60_000);

  it("a RUN that changes nothing records history with empty_layer and adds no layer", async () => {
    const r = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN true\n" }));
    expect(r.image.layers.length).toBe(1);
    expect(r.image.config.history!.at(-1)).toMatchObject({ created_by: "RUN /bin/sh -c true # buildkit", empty_layer: true });
  }, 60_000);

  it("heredocs: a script with a shebang, a plain heredoc, and COPY <<EOF", async () => {
    const df = [
      "FROM busybox",
      "RUN <<EOF",
      "#!/bin/sh",
      "echo script > /script-out",
      "EOF",
      "RUN <<EOF",
      "echo plain > /plain-out",
      "EOF",
      "ARG WHO=world",
      "COPY <<EOF /greeting.txt",
      "hello ${WHO}",
      "EOF",
      "",
    ].join("\n");
    const r = await runBuild(ws, ctx({ Dockerfile: df }));
    expect((await readImageFile(r.image, "/script-out"))?.trim()).toBe("script");
    expect((await readImageFile(r.image, "/plain-out"))?.trim()).toBe("plain");
    expect(await readImageFile(r.image, "/greeting.txt")).toBe("hello world\n");
    expect(statImage(r.image, "/dev/pipes")).toBeUndefined();
    expect(r.image.config.history!.at(-1)?.created_by).toBe("COPY <<EOF /greeting.txt # buildkit");
  }, 60_000);

  it("--mount=type=secret reaches the RUN but no layer and no history", async () => {
    const secretFile = join(ws.dir, "secret-token");
    writeFileSync(secretFile, "s3cr3t-value-XYZ");
    const r = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN --mount=type=secret,id=tok cat /run/secrets/tok | wc -c > /len && mkdir -p /out && touch /out/x\n" }), {
      secrets: [{ id: "tok", src: secretFile }],
    });
    expect((await readImageFile(r.image, "/len"))?.trim()).toBe("16");
    expect(await allLayerText(r.image.layers)).not.toContain("s3cr3t-value-XYZ");
    expect(JSON.stringify(r.image.config)).not.toContain("s3cr3t");
    expect(statImage(r.image, "/run/secrets")).toBeUndefined();
  }, 60_000);

  it("--mount=type=cache persists across builds; tmpfs and bind mounts leave no stubs", async () => {
    const c = ctx({ Dockerfile: "FROM busybox\nARG N\nRUN --mount=type=cache,target=/cache --mount=type=tmpfs,target=/scratch --mount=type=bind,target=/src echo $N >> /cache/log && cat /cache/log > /seen && ls /src > /listing\n", "f.txt": "x" });
    await runBuild(ws, c, { buildArgs: ["N=1"] });
    const r = await runBuild(ws, c, { buildArgs: ["N=2"] });
    expect((await readImageFile(r.image, "/seen"))?.split("\n").filter(Boolean)).toEqual(["1", "2"]);
    expect(await readImageFile(r.image, "/listing")).toContain("f.txt");
    for (const p of ["/cache", "/scratch", "/src"]) expect(statImage(r.image, p)).toBeUndefined();
  }, 60_000);

  it("RUN sees the host's resolv.conf and a hosts file, which never reach the layer", async () => {
    const r = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN cat /etc/resolv.conf > /resolv-copy && grep -c localhost /etc/hosts > /hosts-count\n" }));
    expect(await readImageFile(r.image, "/resolv-copy")).toBe(readFileSync("/etc/resolv.conf", "utf8"));
    expect(Number((await readImageFile(r.image, "/hosts-count"))?.trim())).toBeGreaterThan(0);
    expect(statImage(r.image, "/etc/resolv.conf")).toBeUndefined();
    expect(statImage(r.image, "/etc/hosts")).toBeUndefined();
  }, 60_000);

  it("--network=none isolates: only loopback", async () => {
    const r = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN --network=none ls /sys/class/net > /ifs\n" }));
    expect((await readImageFile(r.image, "/ifs"))?.trim()).toBe("lo");
  }, 60_000);

  it("mount points the image lacks: resolv.conf and hosts on every network (BuildKit's); /etc reaches a layer only when a RUN writes there", async () => {
    const first = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nRUN --network=none ls /etc > /etc-none\nRUN ls /etc > /etc-default\n" }));
    expect((await readImageFile(first.image, "/etc-none"))?.split("\n").filter(Boolean)).toEqual(["group", "hosts", "passwd", "resolv.conf"]);
    expect((await readImageFile(first.image, "/etc-default"))?.split("\n").filter(Boolean)).toEqual(["group", "hosts", "passwd", "resolv.conf"]);
    // an image without /etc: the RUN sees the /etc runc needs for its mount points
    const noEtc = await runBuild(ws, ctx({ Dockerfile: "FROM busybox AS bb\nFROM scratch\nCOPY --from=bb /bin/ /bin/\nRUN ls / > /listing\n" }));
    expect(await readImageFile(noEtc.image, "/listing")).toContain("etc");
    expect(statImage(noEtc.image, "/etc")).toBeUndefined();
    const written = await runBuild(ws, ctx({ Dockerfile: "FROM busybox AS bb\nFROM scratch\nCOPY --from=bb /bin/ /bin/\nRUN echo x > /etc/written\n" }));
    expect(await readImageFile(written.image, "/etc/written")).toBe("x\n");
    expect(statImage(written.image, "/etc")?.mode.toString(8)).toMatch(/755$/);
    expect(statImage(written.image, "/etc/resolv.conf")).toBeUndefined();
    expect(statImage(written.image, "/etc/hosts")).toBeUndefined();
  }, 60_000);

  it("a failing RUN: BuildError with exit code, output and the line; earlier layers stay cached; no tag", async () => {
    const c = ctx({ Dockerfile: "FROM busybox\nRUN echo ok > /ok\nRUN echo some output && echo oops >&2 && exit 3\n" });
    const err = await runBuild(ws, c, { tags: ["failing:1"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    const be = err as BuildError;
    expect(be.detail).toBe('process "/bin/sh -c echo some output && echo oops >&2 && exit 3" did not complete successfully: exit code: 3');
    expect(be.step?.range.start.line).toBe(3);
    const text = be.render({ color: false });
    expect(text).toContain("oops");
    expect(text).toContain(" 3 | >>> RUN echo some output && echo oops >&2 && exit 3");
    await expect(ws.store.resolveImage("failing:1")).rejects.toThrow();
    const again = await runBuild(ws, c).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(BuildError);
    // the rebuild resumes: the step before the failure comes from the cache
    const events = (again as { events: { type: string }[] }).events;
    expect(events.filter((e) => e.type === "cached").length).toBe(1);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(ws.stateDir);
  }, 60_000);
});

describe("COPY and ADD", () => {
  it(".dockerignore keeps files out; --chown names resolve in the image; --chmod applies", async () => {
    const c = ctx({
      Dockerfile: "FROM busybox\nCOPY --chown=app:app --chmod=640 . /dst/\n",
      ".dockerignore": "secret.txt\n*.log\n!keep.log\n",
      "a.txt": "a",
      "secret.txt": "no",
      "x.log": "no",
      "keep.log": "yes",
    });
    const r = await runBuild(ws, c);
    expect(imageFs(r.image).readdir("dst").sort()).toEqual([".dockerignore", "Dockerfile", "a.txt", "keep.log"].sort());
    expect(statImage(r.image, "/dst/a.txt")).toMatchObject({ uid: 1000, gid: 1000 });
    expect(statImage(r.image, "/dst/a.txt")!.mode & 0o777).toBe(0o640);
    expect(r.image.config.history!.at(-1)?.created_by).toBe("COPY --chown=app:app --chmod=640 . /dst/ # buildkit");
  }, 60_000);

  it("WORKDIR through a symlink follows it (the link stays); COPY --chown=NAME takes NAME's primary group", async () => {
    const r = await runBuild(ws, ctx({
      Dockerfile: [
        "FROM busybox",
        "RUN mkdir -p /srv/real && ln -s /srv/real /app && echo 'svc:x:1001:50::/srv:/bin/sh' >> /etc/passwd",
        "WORKDIR /app/sub",
        "RUN touch here && readlink /app > /link",
        "COPY --chown=svc f.txt /f.txt",
        "RUN stat -c '%u:%g' /f.txt > /owner",
      ].join("\n") + "\n",
      "f.txt": "f",
    }));
    expect(await readImageFile(r.image, "/link")).toBe("/srv/real\n");
    expect(statImage(r.image, "/srv/real/sub/here")?.type).toBe("file");
    expect(r.image.config.config?.WorkingDir).toBe("/app/sub");
    expect(await readImageFile(r.image, "/owner")).toBe("1001:50\n");
  });

  it("ADD unpacks a local tar; WORKDIR-relative destinations", async () => {
    const c = ctx({ Dockerfile: "FROM busybox\nWORKDIR /w\nADD t.tar sub/\nCOPY a.txt rel.txt\n", "a.txt": "A" });
    mkdirSync(join(c, "tdir"));
    writeFileSync(join(c, "tdir", "in-tar.txt"), "T");
    const { execFileSync } = await import("node:child_process");
    execFileSync("tar", ["-cf", join(c, "t.tar"), "-C", join(c, "tdir"), "in-tar.txt"]);
    const r = await runBuild(ws, c);
    expect(await readImageFile(r.image, "/w/sub/in-tar.txt")).toBe("T");
    expect(await readImageFile(r.image, "/w/rel.txt")).toBe("A");
  }, 60_000);

  it("a missing source names the file", async () => {
    const err = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nCOPY nope.txt /\n" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).message).toMatch(/nope\.txt/);
    expect((err as BuildError).step?.range.start.line).toBe(2);
  }, 60_000);
});

describe("metadata", () => {
  it("ENTRYPOINT resets an inherited CMD; HEALTHCHECK, VOLUME, STOPSIGNAL, USER, MAINTAINER, ONBUILD; --label", async () => {
    const base = await runBuild(ws, ctx({ Dockerfile: 'FROM busybox\nCMD ["base-cmd"]\nONBUILD RUN echo triggered > /onbuild\n' }), { tags: ["with-onbuild"] });
    expect(base.image.config.config!.OnBuild).toEqual(["RUN echo triggered > /onbuild"]);
    const r = await runBuild(ws, ctx({
      Dockerfile: [
        "FROM with-onbuild",
        'ENTRYPOINT ["/bin/sh"]',
        "HEALTHCHECK --interval=30s --retries=3 CMD wget -q localhost || exit 1",
        "VOLUME /data /logs",
        "STOPSIGNAL SIGTERM",
        "USER nobody",
        "MAINTAINER someone",
        "",
      ].join("\n"),
    }), { labels: { "com.example": "x" } });
    const c = r.image.config.config!;
    expect(c.Cmd ?? null).toBeNull();
    expect(c.Entrypoint).toEqual(["/bin/sh"]);
    // Docker leaves the unset fields out of the config (omitempty), history keeps them
    expect(c.Healthcheck).toEqual({ Test: ["CMD-SHELL", "wget -q localhost || exit 1"], Interval: 30e9, Retries: 3 });
    expect(c.Volumes).toEqual({ "/data": {}, "/logs": {} });
    expect(c.StopSignal).toBe("SIGTERM");
    expect(c.User).toBe("nobody");
    expect(c.Labels).toEqual({ "com.example": "x" });
    expect(c.OnBuild).toBeNull();
    expect(r.image.config.author).toBe("someone");
    expect((await readImageFile(r.image, "/onbuild"))?.trim()).toBe("triggered");
    const h = r.image.config.history!.map((x) => x.created_by);
    expect(h).toContain("HEALTHCHECK {Test:[CMD-SHELL wget -q localhost || exit 1] Interval:30s Timeout:0s StartPeriod:0s StartInterval:0s Retries:3}");
    expect(h).toContain("VOLUME [/data /logs]");
    expect(h).toContain('ENTRYPOINT ["/bin/sh"]');
  }, 60_000);

  it("ENV and ARG values apply in order as BuildKit's state env; proxy args reach RUN but not history", async () => {
    // Docker's reference says ENV always wins over an ARG of the same name; BuildKit lets the later one win.
    const r = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\nARG A=arg\nENV A=env\nENV B=env\nARG B=arg\nRUN echo $A $B $HTTP_PROXY > /x\n" }), { buildArgs: ["HTTP_PROXY=http://proxy.invalid:3128"] });
    expect((await readImageFile(r.image, "/x"))?.trim()).toBe("env arg http://proxy.invalid:3128");
    expect(r.image.config.config!.Env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=env", "B=env"]);
    expect(JSON.stringify(r.image.config.history)).not.toContain("proxy.invalid");
    expect(r.warnings).toEqual([]);
  }, 60_000);

  it("warns about build args nobody declared", async () => {
    const r = await runBuild(ws, ctx({ Dockerfile: "FROM busybox\n" }), { buildArgs: ["NOPE=1"] });
    expect(r.warnings).toEqual(["[Warning] One or more build-args [NOPE] were not consumed"]);
  }, 60_000);
});

import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BERTH, canRun, leftovers, makeHarness, type Harness } from "./harness.js";

/**
 * `berth cp` stays inside the container's root, both ways, for running and stopped containers,
 * with the addon's openat2 and without the addon (BERTH_NO_NATIVE=1: the component walk). The
 * containers plant symlinks to paths of a temp dir this test owns on the host (never real host
 * files): the host copies must not change, and nothing of the host may come out.
 */
describe.runIf(canRun)("berth cp inside the container's root", () => {
  let h: Harness;
  let hostDir: string; // what the links point at, on the host
  let work: string; // the test's own files
  beforeAll(async () => {
    h = await makeHarness("cp");
    hostDir = mkdtempSync("/tmp/berth-cp-hosttarget-");
    work = mkdtempSync("/tmp/berth-cp-work-");
    writeFileSync(join(hostDir, "target"), "HOST ORIGINAL\n");
    writeFileSync(join(hostDir, "secret"), "HOST SECRET\n");
    writeFileSync(join(work, "payload"), "PAYLOAD\n");
  });
  afterAll(async () => {
    await h.cleanup();
    rmSync(hostDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  // the container's own copy of the host dir's path, and links to the host dir's files
  const plant = () => [
    `mkdir -p ${hostDir} /data/sub`,
    `echo INSIDE > ${hostDir}/target`,
    `ln -s ${hostDir}/target /victim`,
    `ln -s ../../../../../../../..${hostDir}/target /climb`,
    `ln -s ${hostDir} /escdir`,
    `ln -s ${hostDir}/secret /leak`,
    `ln -s /escdir/secret /data/sub/leak2`,
    "echo a > /data/a",
    "ln -s /etc /data/etclink",
  ].join(" && ");

  const hostUnchanged = () => {
    expect(readFileSync(join(hostDir, "target"), "utf8")).toBe("HOST ORIGINAL\n");
    expect(readdirSync(hostDir).sort()).toEqual(["secret", "target"]);
  };

  for (const variant of [
    { label: "stopped, openat2", running: false, env: {} },
    { label: "running, openat2", running: true, env: {} },
    { label: "stopped, no addon", running: false, env: { BERTH_NO_NATIVE: "1" } },
    { label: "running, no addon", running: true, env: { BERTH_NO_NATIVE: "1" } },
  ]) {
    it(`${variant.label}: planted links resolve inside, both directions`, async () => {
      const name = `cp-${variant.running ? "r" : "s"}-${Object.keys(variant.env).length}`;
      const cp = (...args: string[]) => h.berth(["cp", ...args], { env: variant.env });
      const script = variant.running ? `${plant()} && exec sleep 60` : plant();
      const started = await h.berth(["run", ...(variant.running ? ["-d"] : []), "--name", name, "busybox", "sh", "-c", script]);
      expect(started.code).toBe(0);
      if (variant.running) {
        for (let i = 0; i < 100 && (await h.berth(["exec", name, "test", "-L", "/data/etclink"])).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
      }
      const inside = async (path: string): Promise<string> => {
        const out = join(work, `read-${name}`);
        rmSync(out, { force: true, recursive: true });
        const r = await cp(`${name}:${path}`, out);
        expect(r.stderr).toBe("");
        return readFileSync(out, "utf8");
      };

      // into the container: the last component is a link out (absolute, climbing, a dir link)
      for (const dest of ["/victim", "/climb"]) {
        const r = await cp(join(work, "payload"), `${name}:${dest}`);
        expect(r.code, r.stderr).toBe(0);
        hostUnchanged();
        expect(await inside(`${hostDir}/target`)).toBe("PAYLOAD\n");
      }
      const viaDir = await cp(join(work, "payload"), `${name}:/escdir/dropped`);
      expect(viaDir.code, viaDir.stderr).toBe(0);
      hostUnchanged();
      expect(await inside(`${hostDir}/dropped`)).toBe("PAYLOAD\n");

      // out of the container: links copied as links, -L and "/." follow them inside only
      const leak = join(work, `leak-${name}`);
      expect((await cp("-L", `${name}:/leak`, leak)).code).not.toBe(0); // the container has no such file
      expect(existsSync(leak)).toBe(false);
      const asLink = await cp(`${name}:/leak`, leak);
      expect(asLink.code).toBe(0);
      expect(execFileSync("readlink", [leak], { encoding: "utf8" })).toBe(`${hostDir}/secret\n`);
      const tree = join(work, `tree-${name}`);
      expect((await cp(`${name}:/escdir/.`, tree)).code).toBe(0);
      expect(readdirSync(tree).sort()).toEqual(["dropped", "target"]); // the container's dir, not the host's
      expect(readFileSync(join(tree, "target"), "utf8")).toBe("PAYLOAD\n");

      // a tar stream out and back in round-trips (into another directory of the container)
      const tarOut = execFileSync("sh", ["-c", `"$0" cp ${name}:/data - | tar -tvf - | awk '{print $1, $6, $7, $8}'`, join(import.meta.dirname, "../../../bin/berth")], {
        env: { ...process.env, BERTH_ROOT: h.root, ...variant.env },
        encoding: "utf8",
      });
      expect(tarOut).toContain("drwxr-xr-x data ");
      expect(tarOut).toContain("-rw-r--r-- data/a ");
      expect(tarOut).toContain("lrwxrwxrwx data/etclink -> /etc");
      expect(tarOut).toContain("lrwxrwxrwx data/sub/leak2 -> /escdir/secret");
      execFileSync("sh", ["-c", `"$0" cp ${name}:/data - | "$0" cp - ${name}:/escdir`, join(import.meta.dirname, "../../../bin/berth")], {
        env: { ...process.env, BERTH_ROOT: h.root, ...variant.env },
      });
      hostUnchanged();
      expect(await inside(`${hostDir}/data/a`)).toBe("a\n");
      const back = join(work, `back-${name}`);
      expect((await cp(`${name}:${hostDir}/data/sub/leak2`, back)).code).toBe(0);
      expect(execFileSync("readlink", [back], { encoding: "utf8" })).toBe("/escdir/secret\n");

      // a tar whose entries go through a link in the stream itself stays inside too
      const evil = join(work, `evil-${name}`);
      mkdirSync(join(evil, "x"), { recursive: true });
      execFileSync("ln", ["-s", hostDir, join(evil, "x", "up")]);
      execFileSync("sh", ["-c", `tar -C "$1" -cf - x | "$0" cp - ${name}:/tmp && tar -C "$2" -cf - --transform 's,^,x/up/,' payload | "$0" cp - ${name}:/tmp`, join(import.meta.dirname, "../../../bin/berth"), evil, work], {
        env: { ...process.env, BERTH_ROOT: h.root, ...variant.env },
      });
      hostUnchanged();
      expect(await inside(`${hostDir}/payload`)).toBe("PAYLOAD\n");

      await h.berth(["rm", "-f", name]);
      expect(leftovers(h).mounts).toEqual([]);
    });
  }

  it("bad paths fail as Docker's cp does", async () => {
    expect((await h.berth(["create", "--name", "cp-bad", "busybox", "true"])).code).toBe(0);
    const missing = await h.berth(["cp", "cp-bad:/nope", join(work, "nope")]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("Could not find the file /nope in container cp-bad");
    const notDir = await h.berth(["cp", "-", "cp-bad:/etc/passwd"], { input: "" });
    expect(notDir.code).not.toBe(0);
    expect(notDir.stderr).toContain('destination "cp-bad:/etc/passwd" must be a directory');
    const noParent = await h.berth(["cp", join(work, "payload"), "cp-bad:/no/such/dir/file"]);
    expect(noParent.code).not.toBe(0);
    expect(noParent.stderr).toContain("Could not find the file /no/such/dir in container cp-bad");
    expect(leftovers(h).mounts).toEqual([]);
  });

  it("a cp into a stopped container holds off start until it is done; cp out runs beside it", async () => {
    expect((await h.berth(["create", "--name", "cp-start", "busybox", "sh", "-c", "cat /tmp/payload; sleep 30"])).code).toBe(0);
    expect((await h.berth(["cp", join(work, "payload"), "cp-start:/etc/was-here"])).code).toBe(0);
    // a tar stream that is still coming: the writer holds the container's root
    const writer = spawn(BERTH, ["cp", "-", "cp-start:/tmp"], { env: { ...process.env, BERTH_ROOT: h.root }, stdio: ["pipe", "ignore", "pipe"] });
    const wrote = new Promise<number | null>((r) => writer.once("close", r));
    const tar = execFileSync("tar", ["-C", work, "-cf", "-", "payload"]);
    writer.stdin.write(tar.subarray(0, 512));
    await new Promise((r) => setTimeout(r, 800));
    // reading meanwhile works (a read-only view of the same layers)
    const out = join(work, "was-here");
    const read = await h.berth(["cp", "cp-start:/etc/was-here", out]);
    expect(read.code, read.stderr).toBe(0);
    expect(readFileSync(out, "utf8")).toBe("PAYLOAD\n");
    const start = spawn(BERTH, ["start", "cp-start"], { env: { ...process.env, BERTH_ROOT: h.root }, stdio: "ignore" });
    const started = new Promise<number | null>((r) => start.once("close", r));
    await new Promise((r) => setTimeout(r, 1000));
    expect(start.exitCode).toBeNull(); // waiting for the copy
    writer.stdin.end(tar.subarray(512));
    expect(await wrote).toBe(0);
    expect(await started).toBe(0);
    // the container started on the finished copy
    let logs = "";
    for (let i = 0; i < 100 && !logs.includes("PAYLOAD"); i++) {
      await new Promise((r) => setTimeout(r, 50));
      logs = (await h.berth(["logs", "cp-start"])).stdout;
    }
    expect(logs).toBe("PAYLOAD\n");
    await h.berth(["rm", "-f", "cp-start"]);
    expect(leftovers(h).mounts).toEqual([]);
  });

  it("a cp killed with SIGKILL leaves no mount and no helper behind", async () => {
    expect((await h.berth(["create", "--name", "cp-kill", "busybox", "true"])).code).toBe(0);
    // a tar stream that never ends: cp is mid-copy into the stopped container when it is killed
    const child = spawn(BERTH, ["cp", "-", "cp-kill:/tmp"], { env: { ...process.env, BERTH_ROOT: h.root }, stdio: ["pipe", "ignore", "pipe"] });
    child.stdin.write(execFileSync("tar", ["-C", work, "-cf", "-", "payload"]).subarray(0, 1024));
    await new Promise((r) => setTimeout(r, 1500));
    expect(child.exitCode).toBeNull();
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    await new Promise((r) => setTimeout(r, 200));
    const left = leftovers(h);
    expect(left.mounts).toEqual([]);
    expect(left.processes).toEqual([]);
    child.stdin.destroy();
  });
});

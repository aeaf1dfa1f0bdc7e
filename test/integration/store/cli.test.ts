import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { humanSize } from "../../../src/cli/format.js";
import { busyboxRootfs, busyboxTarball } from "../../helpers/busybox.js";
import { berth, ok } from "./helpers.js";

const work = mkdtempSync("/tmp/berth-store-cli-");
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const newRoot = (): string => join(work, `root${n++}`);

/** Docker's size of a tree (moby pkg/directory.Size): non-directory entries, each inode once, counted by find(1). */
function treeSize(dir: string): number {
  const seen = new Set<string>();
  let total = 0;
  for (const line of execFileSync("find", [dir, "!", "-type", "d", "-printf", "%i %s\\n"], { encoding: "utf8" }).trim().split("\n")) {
    const [ino, size] = line.split(" ");
    if (Number(size) === 0 || seen.has(ino!)) continue;
    seen.add(ino!);
    total += Number(size);
  }
  return total;
}

function storeListing(root: string): string {
  return execFileSync("sh", ["-c", `cd ${root} && find . -path ./locks -prune -o -print | sort`], { encoding: "utf8" });
}

describe("berth import / images / history / inspect / tag / rmi", () => {
  it("imports a rootfs with --change and -m, and prints it the way docker does", () => {
    const root = newRoot();
    const id = ok(root, ["import", "-c", "ENV PATH=/bin FOO=bar", "-c", 'CMD ["sh", "-c", "echo hi"]', "-c", "WORKDIR /tmp", "-c", "EXPOSE 8080", "-c", "LABEL a=b", "-c", "USER app", "-m", "my rootfs", busyboxTarball(), "bb:1"]).trim();
    expect(id).toMatch(/^sha256:[a-f0-9]{64}$/);
    const images = ok(root, ["images"]);
    expect(images.split("\n")[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    // SIZE: the files' sizes as Docker counts them, not the tar's bytes
    const size = humanSize(treeSize(busyboxRootfs()));
    expect(images).toMatch(new RegExp(`^bb\\s+1\\s+${id.slice(7, 19)}\\s+.* ago\\s+${size.replace(".", "\\.")}$`, "m"));
    expect(ok(root, ["images", "-q"]).trim()).toBe(id.slice(7, 19));
    const [inspect] = JSON.parse(ok(root, ["inspect", "bb:1"])) as { Id: string; RepoTags: string[]; Comment: string; Config: { Env: string[]; Cmd: string[]; WorkingDir: string; ExposedPorts: object; Labels: object; User: string }; RootFS: { Layers: string[] } }[];
    expect(inspect!.Id).toBe(id);
    expect(inspect!.Config).toMatchObject({ Env: ["PATH=/bin", "FOO=bar"], Cmd: ["sh", "-c", "echo hi"], WorkingDir: "/tmp", ExposedPorts: { "8080/tcp": {} }, Labels: { a: "b" }, User: "app" });
    expect(ok(root, ["inspect", "-f", "{{.Config.WorkingDir}}", id.slice(7, 15)]).trim()).toBe("/tmp");
    const history = ok(root, ["history", "bb:1"]).split("\n");
    expect(history[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(history[1]).toMatch(new RegExp(`^${id.slice(7, 19)}\\s+.* ago\\s+${size.replace(".", "\\.")}\\s+my rootfs$`));
    expect(JSON.parse(ok(root, ["history", "--format", "json", "--no-trunc", "bb:1"]).trim())).toMatchObject({ ID: id, Comment: "my rootfs" });
    // Go's bool flag forms: -H=false and --human=false give raw bytes and RFC 3339 times
    for (const flag of ["-H=false", "--human=false"]) {
      expect(ok(root, ["history", flag, "bb:1"]).split("\n")[1]).toMatch(/^\S+\s+\d{4}-\d\d-\d\dT[0-9:.]+Z\s+\d+\s+my rootfs$/);
    }

    ok(root, ["tag", "bb:1", "localhost:5000/ns/bb:v2"]);
    ok(root, ["tag", id.slice(7, 19), "other"]);
    expect(ok(root, ["images", "--format", "{{.Repository}}:{{.Tag}}"]).trim().split("\n").sort()).toEqual(["bb:1", "localhost:5000/ns/bb:v2", "other:latest"]);
    // removing by ID with several tags needs -f; by tag only untags
    expect(berth(root, ["rmi", id.slice(7, 19)]).stderr).toMatch(/must be forced/);
    expect(ok(root, ["rmi", "other"])).toBe("Untagged: other:latest\n");
    expect(ok(root, ["rmi", "-f", id])).toMatch(/Untagged: bb:1\nUntagged: localhost:5000\/ns\/bb:v2\nDeleted: sha256:/);
    expect(ok(root, ["images", "-q"])).toBe("");
    expect(readdirSync(join(root, "l")).sort()).toEqual(["empty"]);
    expect(readdirSync(join(root, "blobs/sha256"))).toEqual([]);
    expect(ok(root, ["system", "check"])).toMatch(/no problems/);
  });

  it("refuses to remove an image a container uses unless -f, and prune -a keeps it", () => {
    const root = newRoot();
    const id = ok(root, ["import", busyboxTarball(), "used:1"]).trim();
    ok(root, ["import", "-m", "other", busyboxTarball()]); // dangling
    mkdirSync(join(root, "c", "ctr1"), { recursive: true });
    writeFileSync(join(root, "c", "ctr1", "record.json"), JSON.stringify({ id: "ctr1", name: "x", imageId: id, created: new Date().toISOString(), state: "exited" }));
    const r = berth(root, ["rmi", "used:1"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/container ctr1 is using its referenced image/);
    const pruned = ok(root, ["image", "prune", "-a", "-f"]);
    expect(pruned).toMatch(/deleted: sha256:/);
    expect(ok(root, ["images", "--format", "{{.Repository}}"]).trim()).toBe("used");
    expect(ok(root, ["system", "df"])).toMatch(/^Images\s+1\s+1\s+/m);
  });

  it("filters images like docker images --filter", () => {
    const root = newRoot();
    const tagged = ok(root, ["import", busyboxTarball(), "app/web:1"]).trim();
    const dangling = ok(root, ["import", "-m", "untagged", busyboxTarball()]).trim();
    expect(ok(root, ["images", "-q", "-f", "dangling=true"]).trim()).toBe(dangling.slice(7, 19));
    expect(ok(root, ["images", "-q", "--filter", "reference=app/*"]).trim()).toBe(tagged.slice(7, 19));
    expect(ok(root, ["images", "-q", "-f", "dangling=false", "-f", "reference=app/web:1"]).trim()).toBe(tagged.slice(7, 19));
    expect(berth(root, ["images", "-f", "size=1"]).stderr).toMatch(/invalid filter 'size'/);
  });

  it("import takes the created time from $SOURCE_DATE_EPOCH: the same tarball gives the same image", () => {
    const saved = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = "1700000000";
    try {
      const a = ok(newRoot(), ["import", busyboxTarball(), "a:1"]).trim();
      const rootB = newRoot();
      const b = ok(rootB, ["import", busyboxTarball(), "b:1"]).trim();
      expect(a).toBe(b);
      expect(ok(rootB, ["inspect", "--format", "{{.Created}}", "b:1"]).trim()).toMatch(/^2023-11-14T22:13:20(\.0+)?Z$/);
      process.env.SOURCE_DATE_EPOCH = "soon";
      const bad = berth(rootB, ["import", busyboxTarball(), "c:1"]);
      expect(bad.status).toBe(125);
      expect(bad.stderr).toContain('invalid SOURCE_DATE_EPOCH "soon"');
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
  });

  it("gives clear errors for unknown images and bad references", () => {
    const root = newRoot();
    const r1 = berth(root, ["history", "nope"]);
    expect(r1.status).not.toBe(0);
    expect(r1.stderr).toMatch(/No such image: nope/);
    // Docker's CLI checks the new name first: exit 1, its wording
    const r2 = berth(root, ["tag", "nope", "Bad:Name"]);
    expect(r2.status).toBe(1);
    expect(r2.stderr).toBe('Error parsing reference: "Bad:Name" is not a valid repository/tag: invalid reference format: repository name must be lowercase\n');
    const r3 = berth(root, ["import", join(work, "missing.tar")]);
    expect(r3.status).not.toBe(0);
    expect(r3.stderr).toMatch(/missing\.tar/);
    const inspect = berth(root, ["inspect", "nope"]);
    expect(inspect.status).toBe(1);
    expect(inspect.stdout.trim()).toBe("[]");
  });
});

describe("berth save / load", () => {
  it("round-trips through stdin/stdout with identical digests", () => {
    const a = newRoot();
    const id = ok(a, ["import", busyboxTarball(), "rt:1"]).trim();
    const manifestDigest = JSON.parse(ok(a, ["inspect", "rt:1"]))[0].Descriptor.digest as string;
    const saved = execFileSync(process.execPath, [join(import.meta.dirname, "../../../bin/berth"), "--root", a, "save", "rt:1"], { maxBuffer: 1 << 28 });
    const b = newRoot();
    const r = berth(b, ["load"], saved);
    expect(r.stdout).toBe("Loaded image: rt:1\n");
    const back = JSON.parse(ok(b, ["inspect", "rt:1"]))[0];
    expect(back.Id).toBe(id);
    expect(back.Descriptor.digest).toBe(manifestDigest);
    // saving again gives the same bytes
    const again = execFileSync(process.execPath, [join(import.meta.dirname, "../../../bin/berth"), "--root", b, "save", "rt:1"], { maxBuffer: 1 << 28 });
    expect(again.equals(saved)).toBe(true);
  });

  it("writes all of an archive to a pipe whose reader is slow, and exits with the command's status", () => {
    // berth ends with _exit(2) once Node's loop drains: nothing written may be lost
    const a = newRoot();
    ok(a, ["import", busyboxTarball(), "slow:1"]);
    const file = join(work, "slow-o.tar");
    ok(a, ["save", "-o", file, "slow:1"]);
    const piped = join(work, "slow-pipe.tar");
    const bin = join(import.meta.dirname, "../../../bin/berth");
    execFileSync("sh", ["-c", `"$0" --root "$1" save slow:1 | (sleep 0.5; cat > "$2")`, bin, a, piped]);
    expect(readFileSync(piped).equals(readFileSync(file))).toBe(true);
    const failed = execFileSync("sh", ["-c", `"$0" --root "$1" save no-such:1 2>&1 >/dev/null; echo "status $?"`, bin, a], { encoding: "utf8" });
    expect(failed).toMatch(/no-such[\s\S]*status 1\n$/);
  });

  it("refuses bad archives, naming the file and the problem, and leaves the store as it was", () => {
    const a = newRoot();
    ok(a, ["import", busyboxTarball(), "good:1"]);
    const good = join(work, "good.tar");
    ok(a, ["save", "-o", good, "good:1"]);
    const dst = newRoot();
    ok(dst, ["import", busyboxTarball(), "before:1"]);
    const before = storeListing(dst);
    const refsBefore = readFileSync(join(dst, "refs.json"), "utf8");

    const unpack = (name: string): string => {
      const d = join(work, name);
      mkdirSync(d);
      execFileSync("tar", ["-C", d, "-xf", good]);
      return d;
    };
    const pack = (d: string, members = "."): string => {
      execFileSync("tar", ["-C", d, "-cf", `${d}.tar`, ...members.split(" ")]);
      return `${d}.tar`;
    };
    const layerOf = (d: string): string => (JSON.parse(readFileSync(join(d, "manifest.json"), "utf8")) as { Layers: string[] }[])[0]!.Layers[0]!;

    const cases: [string, () => string, RegExp][] = [
      ["truncated", () => {
        const buf = readFileSync(good);
        writeFileSync(join(work, "trunc.tar"), buf.subarray(0, Math.floor(buf.length / 2)));
        return join(work, "trunc.tar");
      }, /trunc\.tar: .*(not a valid|truncated|Unexpected end|missing)/],
      ["not an image", () => {
        const d = join(work, "notimage");
        mkdirSync(d);
        writeFileSync(join(d, "hello.txt"), "hi");
        return pack(d);
      }, /notimage\.tar: not an image archive/],
      ["not a tar", () => {
        writeFileSync(join(work, "text.tar"), "this is text, not a tar archive at all, but long enough to be read");
        return join(work, "text.tar");
      }, /text\.tar: /],
      ["layer digest mismatch", () => {
        const d = unpack("mismatch");
        const layer = join(d, layerOf(d));
        const buf = readFileSync(layer);
        buf[Math.floor(buf.length / 2)] ^= 0xff; // inside the busybox binary: still a valid tar
        writeFileSync(layer, buf);
        return pack(d);
      }, /mismatch\.tar: layer blobs\/sha256\/[a-f0-9]+: digest mismatch/],
      ["unknown media type", () => {
        const d = unpack("mediatype");
        rmSync(join(d, "manifest.json"));
        const index = JSON.parse(readFileSync(join(d, "index.json"), "utf8")) as { manifests: { mediaType: string }[] };
        index.manifests[0]!.mediaType = "application/x-unknown";
        writeFileSync(join(d, "index.json"), JSON.stringify(index));
        return pack(d);
      }, /mediatype\.tar: index\.json: unknown media type "application\/x-unknown"/],
      ["missing layer", () => {
        const d = unpack("nolayer");
        rmSync(join(d, layerOf(d)));
        return pack(d);
      }, /nolayer\.tar: layer .* is missing from the archive/],
      ["path-escaping member", () => {
        const d = unpack("escape");
        return execFileSync("sh", ["-c", `cd ${d} && tar --transform='s,^manifest.json,../../manifest.json,' -P -cf ${d}.tar manifest.json index.json oci-layout blobs && echo ${d}.tar`], { encoding: "utf8" }).trim();
      }, /escape\.tar: archive member .* escapes the archive/],
    ];
    for (const [name, make, why] of cases) {
      const file = make();
      const r = berth(dst, ["load", "-i", file]);
      expect(r.status, name).not.toBe(0);
      expect(r.stderr, name).toMatch(why);
      expect(storeListing(dst), name).toBe(before);
      expect(readFileSync(join(dst, "refs.json"), "utf8"), name).toBe(refsBefore);
    }
    expect(ok(dst, ["system", "check"])).toMatch(/no problems/);
  });
});

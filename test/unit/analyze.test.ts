import { describe, expect, it } from "vitest";
import { Chalk } from "chalk";
import { EventEmitter } from "node:events";
import { AnalyzeView, adviseImage, analyzeImage, diveFileList, layerTree, parseKeys, runInteractive, terminalColours, type TreeNode, evaluateCi, parseDiveCi, DIVE_CI_DEFAULTS, type LayerListing } from "../../src/analyze/index.js";
import { parseBytes, humanizeBytes } from "../../src/analyze/ci.js";
import type { ImageRecord } from "../../src/store/index.js";

type E = LayerListing["entries"][number];
const dir = (path: string, leaf = false): E => ({ path, kind: "dir", size: 0, leaf, abs: "", mode: 0o40755, uid: 0, gid: 0 });
const file = (path: string, size: number, more: Partial<E> = {}): E => ({ path, kind: "file", size, leaf: true, abs: "", mode: 0o100644, uid: 0, gid: 0, ...more });
const wh = (path: string): E => ({ path, kind: "whiteout", size: 0, leaf: true, abs: "", mode: 0o20000, uid: 0, gid: 0 });

function image(createdBy: string[], lines?: ([number, number] | null)[]): ImageRecord {
  return {
    id: "sha256:" + "a".repeat(64), repoTags: ["t:latest"],
    config: { history: createdBy.map((c) => ({ created_by: c })) },
    layers: createdBy.map((_, i) => ({ diffId: `sha256:${String(i).repeat(64)}` })),
    ...(lines !== undefined ? { source: { dockerfile: "Dockerfile", lines } } : {}),
  } as unknown as ImageRecord;
}

describe("analyzeImage: dive's efficiency (filetree/efficiency.go)", () => {
  it("dive's TestEfficiency trees, with the directory entries every real layer tar has", () => {
    // layer 0: /etc/nginx/{nginx.conf 2000, public 3000}; layer 1: nginx.conf 5000, /etc/athing 10000; layer 2: whiteout of /etc/nginx
    const listings: LayerListing[] = [
      { entries: [dir("etc"), dir("etc/nginx"), file("etc/nginx/nginx.conf", 2000), file("etc/nginx/public", 3000)], opaque: [] },
      { entries: [dir("etc"), file("etc/athing", 10000), dir("etc/nginx"), file("etc/nginx/nginx.conf", 5000)], opaque: [] },
      { entries: [dir("etc"), wh("etc/nginx")], opaque: [] },
    ];
    const a = analyzeImage(image(["a", "b", "c"]), listings);
    // paths: nginx.conf (2000, 5000), public 3000, athing 10000, the whiteout /etc/nginx = the
    // 8000 bytes below it in the stacked tree: score = (2000+3000+10000+8000)/(7000+3000+10000+8000).
    // (dive's own test gets 0.75: its synthetic trees have no /etc/nginx entry, so the stacked
    // node is not a directory and the whiteout counts 0 — a real layer tar always has it.)
    expect(a.efficiencyScore).toBeCloseTo(23000 / 28000, 12);
    expect(a.fileReference).toEqual([{ count: 2, sizeBytes: 7000, file: "/etc/nginx/nginx.conf" }]);
    expect(a.inefficientBytes).toBe(7000);
    expect(a.sizeBytes).toBe(20000);
    expect(a.userSizeBytes).toBe(15000);
    expect(a.wastedUserPercent).toBeCloseTo(7000 / 15000, 12);
    // berth's own: the 2000-byte first nginx.conf (overwritten) and the 8000 bytes removed by layer 2
    expect(a.wastedBytes).toBe(10000);
    expect(a.layers.map((l) => [l.added, l.changed, l.removed, l.wastedBytes])).toEqual([[2, 0, 0, 5000], [1, 1, 0, 5000], [0, 0, 2, 0]]);
  });

  it("a scratch image of one empty file scores 1 with no inefficiencies (dive's TestEfficiency_ScratchImage)", () => {
    const a = analyzeImage(image(["a", "b", "c"]), [{ entries: [file("nothing", 0)], opaque: [] }, { entries: [], opaque: [] }, { entries: [], opaque: [] }]);
    expect(a.efficiencyScore).toBe(1);
    expect(a.fileReference).toEqual([]);
  });

  it("an opaque directory hides what the layers below put in it", () => {
    const a = analyzeImage(image(["a", "b"]), [
      { entries: [dir("d"), file("d/x", 100), file("d/y", 50)], opaque: [] },
      { entries: [dir("d"), file("d/z", 10)], opaque: ["d"] },
    ]);
    expect(a.hidden.map((h) => [h.path, h.how, h.addedBy, h.hiddenBy])).toEqual([["/d/x", "removed", 0, 1], ["/d/y", "removed", 0, 1]]);
    expect(a.finalFiles.map((f) => f.path)).toEqual(["/d/z"]);
  });
});

describe("diveFileList: dive's per-layer fileList (export.go, filetree FileInfo)", () => {
  it("walks the layer tree children first in name order, whiteouts under their .wh. name, hard links and symlinks as their tar headers", () => {
    const list = diveFileList({
      entries: [
        dir("bin"), file("bin/[", 1000, { mode: 0o100755 }), file("bin/ls", 0, { mode: 0o100755, linkName: "bin/[" }),
        { path: "bin/sh", kind: "symlink", size: 0, leaf: true, abs: "", mode: 0o120777, uid: 0, gid: 0, linkName: "/bin/[" },
        { ...dir("tmp"), mode: 0o41777 }, wh("tmp/junk"), file("tmp/a", 5, { uid: 1000, gid: 100 }),
      ],
      opaque: [],
    });
    expect(list.map((f) => f.path)).toEqual(["bin/[", "bin/ls", "bin/sh", "bin", "tmp/.wh.junk", "tmp/a", "tmp"]);
    // dive's snapshot (export_test.snap): a busybox hard link is typeFlag 49 ('1'), fileMode 493, size 0
    expect(list[1]).toEqual({ path: "bin/ls", typeFlag: 49, linkName: "bin/[", size: 0, fileMode: 493, uid: 0, gid: 0, isDir: false });
    expect(list[2]).toMatchObject({ typeFlag: 50, linkName: "/bin/[", fileMode: 2 ** 27 + 0o777 });
    // a directory: Go's ModeDir | perm (dive's 2147484141 for 0755); /tmp's sticky bit is ModeSticky
    expect(list[3]).toMatchObject({ typeFlag: 53, fileMode: 2147484141, isDir: true });
    expect(list[6]).toMatchObject({ fileMode: 2148532735 });
    expect(list[4]).toMatchObject({ typeFlag: 48, size: 0, isDir: false });
    expect(list[5]).toMatchObject({ typeFlag: 48, size: 5, fileMode: 420, uid: 1000, gid: 100 });
    expect(Object.keys(list[0]!)).toEqual(["path", "typeFlag", "linkName", "size", "fileMode", "uid", "gid", "isDir"]);
  });
});

describe("the interactive view (dive's two panes)", () => {
  const listings: LayerListing[] = [
    { entries: [dir("etc"), file("etc/passwd", 100), dir("tmp"), file("tmp/junk", 5000), dir("old"), file("old/x", 7)], opaque: [] },
    { entries: [dir("etc"), file("etc/passwd", 120), file("etc/new", 3), dir("tmp"), wh("tmp/junk"), dir("old")], opaque: ["old"] },
  ];
  const flat = (n: TreeNode): string[] => n.children.flatMap((c) => [`${c.path} ${c.diff} ${c.size}`, ...flat(c)]);

  it("layerTree: the file system as of a layer, what that layer added, modified, removed (a removed path kept)", () => {
    expect(flat(layerTree(listings, 0))).toEqual(["/etc added 100", "/etc/passwd added 100", "/old added 7", "/old/x added 7", "/tmp added 5000", "/tmp/junk added 5000"]);
    expect(flat(layerTree(listings, 1))).toEqual([
      "/etc modified 123", "/etc/new added 3", "/etc/passwd modified 120",
      "/old modified 7", "/old/x removed 7",
      "/tmp modified 5000", "/tmp/junk removed 5000",
    ]);
  });

  it("the terminal view colours as dive does even where $CI turns chalk's colour off; NO_COLOR, FORCE_COLOR=0 and TERM=dumb turn it off", () => {
    expect(terminalColours({ CI: "1", TERM: "xterm-256color" }).level).toBeGreaterThan(0);
    expect(terminalColours({ CI: "1", TERM: "xterm-256color" }).red("x")).toBe("\x1b[31mx\x1b[39m");
    for (const env of [{ NO_COLOR: "" }, { FORCE_COLOR: "0" }, { TERM: "dumb" }]) expect(terminalColours(env).level, JSON.stringify(env)).toBe(0);
  });

  it("keys: layers up and down, Tab, Space and arrows collapse, ^U leaves only the changes, q and Ctrl-C quit", () => {
    expect(parseKeys("\x1b[B\x1bOA\t \x1b[C\x1b[D\x15q\x03x\x1b[1;5A")).toEqual(["down", "up", "tab", "space", "right", "left", "filter", "quit", "quit"]);
    const a = analyzeImage(image(["/bin/sh -c make", "/bin/sh -c rm"], [[1, 1], [2, 3]]), listings);
    const view = new AnalyzeView(a, listings, new Chalk({ level: 0 }));
    const tree = (): string[] => view.render(100, 20).map((l) => l.split("│").slice(1).join("│").trimEnd()).filter((l) => /[├└]── /.test(l)).map((l) => l.trim());
    expect(view.key("down", 10)).toBe(false);
    expect(view.render(100, 20).join("\n")).toMatch(/^ +1 +2-3 +123 B +rm +│/m);
    view.key("filter", 10);
    expect(tree()).toEqual([
      "~ drwxr-xr-x       0:0      123 B  ├── etc/", "+ -rw-r--r--       0:0        3 B  │   ├── new", "~ -rw-r--r--       0:0      120 B  │   └── passwd",
      "~ drwxr-xr-x       0:0        7 B  ├── old/", "- -rw-r--r--       0:0        7 B  │   └── x",
      "~ drwxr-xr-x       0:0       5 kB  └── tmp/", "- -rw-r--r--       0:0       5 kB      └── junk",
    ]);
    view.key("tab", 10);
    view.key("space", 10);
    expect(tree()[0]).toMatch(/├── ⊕ etc\/$/);
    expect(tree()).toHaveLength(5);
    view.key("right", 10);
    expect(tree()).toHaveLength(7);
    view.key("tab", 10);
    view.key("up", 10);
    view.key("filter", 10);
    expect(tree()).toEqual(expect.arrayContaining([expect.stringMatching(/^\+ .*└── junk$/)]));
    expect(view.key("quit", 10)).toBe(true);
  });

  it("runInteractive gives the terminal back (cooked input, the cursor, the screen) when drawing fails", async () => {
    const raw: boolean[] = [];
    const input = Object.assign(new EventEmitter(), { isTTY: true, setRawMode: (on: boolean) => raw.push(on), resume() {}, pause() {} });
    let written = "";
    const output = Object.assign(new EventEmitter(), { columns: 80, rows: 24, write: (s: string) => ((written += s), true) });
    const a = analyzeImage(image(["a"]), [listings[0]!]);
    const view = new AnalyzeView(a, [listings[0]!], new Chalk({ level: 0 }));
    let draws = 0;
    view.render = () => {
      if (++draws === 2) throw new Error("draw failed");
      return ["frame"];
    };
    const run = runInteractive(view, input as unknown as NodeJS.ReadStream, output as unknown as NodeJS.WriteStream);
    input.emit("data", Buffer.from("\x1b[B"));
    await expect(run).rejects.toThrow("draw failed");
    expect(raw).toEqual([true, false]);
    expect(written.endsWith("\x1b[?25h\x1b[?1049l")).toBe(true);
    expect(input.listenerCount("data")).toBe(0);
  });
});

describe("advice tied to Dockerfile lines", () => {
  it("apt-get lists added at one line and removed at another: remove them in the same RUN", () => {
    const a = analyzeImage(image(["FROM", "RUN /bin/sh -c apt-get update # buildkit", "RUN /bin/sh -c rm -rf /var/lib/apt/lists/* # buildkit"], [null, [4, 4], [6, 6]]), [
      { entries: [dir("var"), dir("var/lib"), dir("var/lib/apt"), dir("var/lib/apt/lists", true)], opaque: [] },
      { entries: [dir("var"), dir("var/lib"), dir("var/lib/apt"), dir("var/lib/apt/lists"), file("var/lib/apt/lists/a_Packages", 40_000_000)], opaque: [] },
      { entries: [dir("var"), dir("var/lib"), dir("var/lib/apt"), dir("var/lib/apt/lists"), wh("var/lib/apt/lists/a_Packages")], opaque: [] },
    ]);
    const advice = adviseImage(a);
    expect(advice[0]!.message).toBe("`apt-get` lists (40 MB) added at line 4 and removed at line 6: remove them in the same RUN (`apt-get update && apt-get install … && rm -rf /var/lib/apt/lists/*`); a later layer's removal does not make the image smaller.");
    expect(advice[0]!.lines).toEqual([[4, 4], [6, 6]]);
  });
});

describe("dive's CI rules", () => {
  it("reads .dive-ci rules in both spellings and go-humanize sizes", () => {
    expect(parseDiveCi("---\nplugins:\n  - p\nrules:\n  # c\n  lowestEfficiency: 0.95\n  highest-wasted-bytes: 20Mb\n  highestUserWastedPercent: 0.5 # c\n  plugin1/rule1: error\n", ".dive-ci"))
      .toEqual({ lowestEfficiency: "0.95", highestWastedBytes: "20Mb", highestUserWastedPercent: "0.5" });
    expect(parseBytes("20Mb")).toBe(20_000_000);
    expect(parseBytes("1.5 GiB")).toBe(1.5 * 1024 ** 3);
    expect(() => parseBytes("lots")).toThrow(/highestWastedBytes/);
    expect(humanizeBytes(82854982)).toBe("83 MB");
    expect(humanizeBytes(9500)).toBe("9.5 kB");
  });

  it("fails below the lowest efficiency and above the user wasted share, skips disabled rules", () => {
    const a = { efficiencyScore: 0.5, inefficientBytes: 300, wastedUserPercent: 0.3 } as Parameters<typeof evaluateCi>[0];
    const ev = evaluateCi(a, DIVE_CI_DEFAULTS);
    expect(ev.pass).toBe(false);
    expect(ev.results.map((r) => `${r.status} ${r.rule}`)).toEqual(["FAIL highestUserWastedPercent", "SKIP highestWastedBytes", "FAIL lowestEfficiency"]);
    expect(evaluateCi(a, { lowestEfficiency: "0.4", highestWastedBytes: "1kB", highestUserWastedPercent: "off" }).pass).toBe(true);
  });
});

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import { BERTH, berthCli, workspace, writeContext } from "./helpers.js";
import { debianMirrorUnreachable, debianTarball } from "../../helpers/debian.js";

// berth image analyze on images built here to hold known waste: a 5 MB file made at line 3 and
// removed at line 4, a 3 MB context file copied again at line 5, a .git directory in a COPY of
// the whole context at line 2.

let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
const CHROMIUM = "/usr/bin/chromium";
const DOCKERFILE = [
  "FROM busybox",
  "COPY . /app",
  "RUN head -c 5000000 /dev/urandom > /tmp/junk",
  "RUN rm /tmp/junk",
  "RUN cp /app/big.bin /copy.bin",
  "",
].join("\n");

function berth(args: string[]) {
  return berthCli(join(ws.dir, "store"), args);
}

beforeAll(async () => {
  ws = await workspace("analyze");
  const ctx = writeContext(join(ws.dir, "ctx"), { Dockerfile: DOCKERFILE, ".git/objects/pack": "p".repeat(200_000) });
  const big = Buffer.alloc(3_000_000);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  writeFileSync(join(ctx, "big.bin"), big);
  const r = berth(["build", "-q", "-t", "waste:1", ctx]);
  expect(r.status, r.stderr).toBe(0);
}, 120_000);
afterAll(() => ws?.cleanup());

describe("berth image analyze", () => {
  it("names each layer's line, the wasted files, and advice tied to the lines", () => {
    const r = berth(["image", "analyze", "waste:1"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^1 +2 +3\.2 MB +3 +0 +0 +0 B +COPY \. \/app$/m);
    expect(r.stdout).toMatch(/^2 +3 +5 MB +1 +0 +0 +5 MB +RUN \/bin\/sh -c head -c 5000000/m);
    expect(r.stdout).toMatch(/^3 +4 +0 B +0 +0 +1 +0 B +RUN \/bin\/sh -c rm \/tmp\/junk$/m);
    expect(r.stdout).toMatch(/^4 +5 +3 MB +1 +0 +0 +3 MB +RUN \/bin\/sh -c cp /m);
    expect(r.stdout).toContain("Wasted: 8 MB (removed by a later layer 5 MB, overwritten 0 B, duplicate content 3 MB)");
    expect(r.stdout).toContain("`/tmp/junk` (5 MB) added at line 3 and removed at line 4: delete it in the same RUN");
    expect(r.stdout).toContain("the same 3 MB file in 2 layers: `/app/big.bin` (line 2) and `/copy.bin` (line 5)");
    expect(r.stdout).toContain("COPY of the whole context at line 2 brings 200 kB that `.dockerignore` could exclude: `.git` 200 kB");
  });

  it("--format json has dive's export keys, and its score is dive's formula", () => {
    const r = berth(["image", "analyze", "--format", "json", "waste:1"]);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.layer.map((l: { index: number }) => l.index)).toEqual([0, 1, 2, 3, 4]);
    for (const l of j.layer) expect(Object.keys(l)).toEqual(expect.arrayContaining(["index", "digestId", "sizeBytes", "command", "fileList"]));
    // dive's fileList: the layer's tar entries, children first; the rm's layer holds /tmp's whiteout of junk
    expect(j.layer[3].fileList).toEqual([
      { path: "tmp/.wh.junk", typeFlag: 48, linkName: "", size: 0, fileMode: 420, uid: 0, gid: 0, isDir: false },
      { path: "tmp", typeFlag: 53, linkName: "", size: 0, fileMode: 2 ** 31 + 2 ** 20 + 0o777, uid: 0, gid: 0, isDir: true },
    ]);
    expect(j.layer[2].fileList).toContainEqual(expect.objectContaining({ path: "tmp/junk", typeFlag: 48, size: 5_000_000 }));
    expect(j.layer[2]).toMatchObject({ command: "RUN /bin/sh -c head -c 5000000 /dev/urandom > /tmp/junk # buildkit", sizeBytes: 5_000_000, lines: [3, 3] });
    expect(Object.keys(j.image).sort()).toEqual(["efficiencyScore", "fileReference", "inefficientBytes", "sizeBytes"]);
    // the only path met twice is /tmp/junk (5 MB, then its whiteout: 0), so dive's score is
    // (all bytes - 5 MB) / all bytes, and its inefficient bytes the 5 MB
    expect(j.image.fileReference).toEqual([{ count: 2, sizeBytes: 5_000_000, file: "/tmp/junk" }]);
    expect(j.image.inefficientBytes).toBe(5_000_000);
    expect(j.image.sizeBytes).toBe(j.layer.reduce((s: number, l: { sizeBytes: number }) => s + l.sizeBytes, 0));
    expect(j.image.efficiencyScore).toBeCloseTo((j.image.sizeBytes - 5_000_000) / j.image.sizeBytes, 12);
    expect(j.berth.wastedBytes).toBe(8_000_000);
    expect(j.berth.duplicates[0].copies).toEqual([{ path: "/app/big.bin", layer: 1 }, { path: "/copy.bin", layer: 4 }]);
  });

  it("--ci checks dive's rules: exit 1 when one fails, a .dive-ci file, a bad value named", () => {
    const fail = berth(["image", "analyze", "--ci", "waste:1"]);
    expect(fail.status).toBe(1);
    expect(fail.stdout).toMatch(/FAIL  lowestEfficiency \(image efficiency is too low \(efficiency=0\.\d\d < threshold=0\.9\)\)/);
    expect(fail.stdout).toMatch(/\nFAIL \[fail:2 skip:1\]\n$/);
    const pass = berth(["image", "analyze", "--ci", "--lowest-efficiency", "0.3", "--highest-user-wasted-percent", "0.9", "waste:1"]);
    expect(pass.status, pass.stdout).toBe(0);
    expect(pass.stdout).toMatch(/\nPASS \[pass:2 skip:1\]\n$/);
    const file = join(ws.dir, "dive-ci.yaml");
    writeFileSync(file, "rules:\n  lowestEfficiency: 0.3\n  highestWastedBytes: 1MB\n  highestUserWastedPercent: disabled\n");
    const bytes = berth(["image", "analyze", "--ci", "--ci-config", file, "waste:1"]);
    expect(bytes.status).toBe(1);
    expect(bytes.stdout).toContain("FAIL  highestWastedBytes (too many bytes wasted (wasted-bytes=5000000 > threshold=1000000))");
    const bad = berth(["image", "analyze", "--ci", "--lowest-efficiency", "2", "waste:1"]);
    expect(bad.status).toBe(125);
    expect(bad.stderr).toContain("lowestEfficiency config value is outside allowed range (0-1)");
    const missing = berth(["image", "analyze", "nosuch:1"]);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain("nosuch:1");
  });

  it("berth build --analyze prints the summary after the build", () => {
    const ctx = writeContext(join(ws.dir, "ctx2"), { Dockerfile: "FROM busybox\nRUN head -c 2000000 /dev/zero > /big\n\nRUN rm /big\n" });
    const r = berth(["build", "-q", "--analyze", ctx]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("`/big` (2 MB) added at line 2 and removed at line 4");
  }, 60_000);

  it("--html writes one self-contained page: a block per layer, the treemap, the wasted file named (headless Chromium)", async (t) => {
    const html = join(ws.dir, "report.html");
    const r = berth(["image", "analyze", "--html", html, "waste:1"]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(html, "utf8")).not.toMatch(/<(script|link|img)[^>]+(src|href)=/);
    if (!existsSync(CHROMIUM)) {
      console.warn(`skipping the browser check of the HTML report: ${CHROMIUM} is missing (apt-get install chromium)`);
      t.skip();
      return;
    }
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on("request", (req) => {
        if (!req.url().startsWith("file:")) requests.push(req.url());
      });
      await page.goto(`file://${html}`);
      await expect(page.locator(".layer").count()).resolves.toBe(5);
      expect(await page.locator(".layer").nth(2).innerText()).toContain("line 3");
      expect(await page.locator(".layer").nth(2).innerText()).toContain("5 MB wasted");
      expect(await page.locator("#advice").innerText()).toContain("/tmp/junk (5 MB) added at line 3 and removed at line 4");
      expect(await page.locator("#wasted").innerText()).toContain("/tmp/junk");
      const box = await page.locator("#treemap").boundingBox();
      expect(box?.width).toBeGreaterThan(500);
      // the treemap's biggest files are the 3 MB ones, in their layers' colours
      expect(await page.locator('#treemap rect.tm-file[data-layer="4"]').count()).toBeGreaterThan(0);
      await page.locator(".layer").nth(4).click();
      await expect(page.locator("#treemap").getAttribute("class")).resolves.toBe("dimmed");
      expect(await page.locator("#treemap rect.tm-file.on").count()).toBe(await page.locator('#treemap rect.tm-file[data-layer="4"]').count());
      expect(requests).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it("a Debian image with apt-get steps: the lists added at one line and removed at another, named with the fix", async (t) => {
    const { tarball, why } = debianTarball();
    const unreachable = tarball === undefined ? undefined : await debianMirrorUnreachable();
    if (tarball === undefined || unreachable !== undefined) {
      console.warn(`skipping the Debian analyze test: ${why ?? unreachable ?? ""}`);
      t.skip();
      return;
    }
    const root = join(ws.dir, "store");
    expect(berth(["import", tarball, "debian:bookworm"]).status).toBe(0);
    const ctx = writeContext(join(ws.dir, "deb"), { Dockerfile: "FROM debian:bookworm\nRUN apt-get update\nRUN apt-get install -y --no-install-recommends hello\nRUN rm -rf /var/lib/apt/lists/*\n" });
    const r = berthCli(root, ["build", "-q", "--analyze", "-t", "deb-waste:1", ctx]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/`apt-get` lists \([\d.]+ MB\) added at line 2 and removed at line 4: remove them in the same RUN/);
    const j = JSON.parse(berth(["image", "analyze", "--format", "json", "deb-waste:1"]).stdout);
    type Hidden = { path: string; sizeBytes: number; addedBy: number; hiddenBy: number };
    const lists = (j.berth.hidden as Hidden[]).filter((h) => h.path.startsWith("/var/lib/apt/lists/") && h.addedBy === 1);
    expect(lists.reduce((s, h) => s + h.sizeBytes, 0)).toBeGreaterThan(1_000_000);
    expect(lists.filter((h) => h.hiddenBy !== 3)).toEqual([]);
  }, 300_000);

  it("-i: dive's two panes in a real terminal (a pty from util-linux script): layers, the tree as of a layer, a removed file, q restores the terminal", async () => {
    const cmd = `stty cols 120 rows 40; ${process.execPath} ${BERTH} --root ${join(ws.dir, "store")} image analyze -i waste:1; echo EXIT=$?; stty -a`;
    const child = spawn("script", ["-qfc", cmd, "/dev/null"], { env: { ...process.env, BERTH_ROOT: "", TERM: "xterm-256color", CI: "1", FORCE_COLOR: undefined, NO_COLOR: undefined } });
    let raw = "";
    child.stdout.on("data", (d: Buffer) => (raw += d.toString("utf8")));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    /** What the terminal shows: every frame writes each row after moving the cursor to it. */
    const screen = (): string[] => {
      const rows: string[] = [];
      for (const m of raw.matchAll(/\x1b\[(\d+);1H([^\x1b]*(?:\x1b\[[\d;]*m[^\x1b]*)*)/g)) rows[Number(m[1]) - 1] = m[2]!.replace(/\x1b\[[\d;]*m/g, "");
      return rows;
    };
    /** The right pane's tree rows. */
    const treeOf = (rows: string[]): string[] => rows.map((l) => l.split("│").slice(1).join("│").trimEnd()).filter((l) => /[├└]── /.test(l));
    const waitFor = async (what: string, test: (rows: string[]) => boolean): Promise<string[]> => {
      for (let i = 0; i < 200; i++) {
        const rows = screen();
        if (test(rows)) return rows;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`the screen never showed ${what}:\n${screen().join("\n")}\n(stdout: ${JSON.stringify(raw.slice(-2000))})`);
    };
    try {
      let rows = await waitFor("the layers", (r) => r.some((l) => l.includes("COPY . /app")));
      expect(rows).toHaveLength(40);
      expect(rows[0]).toMatch(/^ Layers +\s+Current Layer Contents \(layer 0\)/);
      child.stdin.write("\x1b[B\x1b[B\x1b[B"); // three layers down: the rm of line 4
      rows = await waitFor("layer 3", (r) => r[0]!.includes("(layer 3)"));
      expect(rows).toContainEqual(expect.stringMatching(/^ +3 +4 +0 B +RUN \/bin\/sh -c rm \/tmp\/junk +│/));
      expect(rows).toContainEqual(expect.stringMatching(/^Line: 4 /));
      child.stdin.write("\x15"); // ^U: changes only
      rows = await waitFor("the changes only", (r) => r[0]!.includes("changes only"));
      expect(treeOf(rows)).toEqual([
        expect.stringMatching(/^~ drwxrwxrwx +0:0 +5 MB  └── tmp\/$/),
        expect.stringMatching(/^- -rw-r--r-- +0:0 +5 MB      └── junk$/),
      ]);
      expect(raw).toContain(`${"\x1b[31m"}junk`); // dive's red for a removed file
      child.stdin.write("\t "); // the tree pane, then Space collapses /tmp
      rows = await waitFor("/tmp collapsed", (r) => r.some((l) => l.includes("⊕ tmp/")));
      expect(treeOf(rows)).toEqual([expect.stringMatching(/^~ drwxrwxrwx +0:0 +5 MB  └── ⊕ tmp\/$/)]);
      child.stdin.write("q");
      expect(await exited).toBe(0);
      const after = raw.slice(raw.lastIndexOf("\x1b[?1049l"));
      expect(after).toContain("EXIT=0");
      // the terminal is back in cooked mode with echo, the cursor shown
      expect(after).toMatch(/(^|\s)icanon\s/);
      expect(after).toMatch(/(^|\s)echo\s/);
      expect(raw.lastIndexOf("\x1b[?25h")).toBeGreaterThan(raw.lastIndexOf("\x1b[?25l"));
    } finally {
      child.kill();
    }
  }, 60_000);

  it("-i without a terminal is refused, naming the flag", () => {
    const r = berth(["image", "analyze", "-i", "waste:1"]);
    expect(r.status).toBe(125);
    expect(r.stderr).toContain("--interactive needs a terminal");
    expect(r.stdout).toBe("");
  });
});

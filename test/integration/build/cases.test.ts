import { cpSync, existsSync, readdirSync, readFileSync, mkdirSync, copyFileSync } from "node:fs";
import { readlink } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ContainerConfig } from "../../../src/image/types.js";
import type { Store } from "../../../src/store/index.js";
import { imageFs, readImageFile, runBuild, statImage, workspace } from "./helpers.js";

/**
 * Data-driven build scenarios: test/cases/build/<case>/ holds a Dockerfile, a context/ folder
 * and expect.json (files with their content, absent paths, dirs, symlinks, modes, owners, a
 * subset of the image config, the history texts this build added, the layer count).
 */
interface Expect {
  buildArgs?: string[];
  files?: Record<string, string>;
  absent?: string[];
  dirs?: string[];
  symlinks?: Record<string, string>;
  modes?: Record<string, string>;
  owners?: Record<string, string>;
  config?: Partial<ContainerConfig>;
  history?: string[];
  layers?: number;
}

const CASES = join(__dirname, "../../cases/build");
let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
beforeAll(async () => {
  ws = await workspace("cases");
}, 60_000);
afterAll(() => ws?.cleanup());

describe("build cases", () => {
  it("are there", () => {
    expect(readdirSync(CASES).length).toBeGreaterThanOrEqual(5);
  });
  for (const name of readdirSync(CASES).sort()) {
    it(name, async () => {
      const dir = join(CASES, name);
      const want = JSON.parse(readFileSync(join(dir, "expect.json"), "utf8")) as Expect;
      // a case that expects nothing would pass whatever the build made
      const checks = ["files", "absent", "dirs", "symlinks", "modes", "owners", "config", "history", "layers"] as const;
      expect(checks.filter((k) => want[k] !== undefined), `${name}/expect.json checks nothing`).not.toEqual([]);
      const ctx = join(ws.dir, name);
      mkdirSync(ctx, { recursive: true });
      if (existsSync(join(dir, "context"))) cpSync(join(dir, "context"), ctx, { recursive: true, verbatimSymlinks: true });
      copyFileSync(join(dir, "Dockerfile"), join(ctx, "Dockerfile"));
      const r = await runBuild(ws, ctx, { buildArgs: want.buildArgs ?? [] });
      const img = r.image;
      for (const [p, content] of Object.entries(want.files ?? {})) expect(await readImageFile(img, p), p).toBe(content);
      for (const p of want.absent ?? []) expect(statImage(img, p), p).toBeUndefined();
      for (const p of want.dirs ?? []) expect(statImage(img, p)?.type, p).toBe("dir");
      for (const [p, target] of Object.entries(want.symlinks ?? {})) {
        const fs = imageFs(img);
        expect(fs.lstat(p.slice(1))?.type, p).toBe("symlink");
        expect(await readlink(fs.hostPath(p.slice(1))), p).toBe(target);
      }
      for (const [p, mode] of Object.entries(want.modes ?? {})) expect(((statImage(img, p)?.mode ?? 0) & 0o7777).toString(8), p).toBe(mode);
      for (const [p, owner] of Object.entries(want.owners ?? {})) {
        const st = statImage(img, p);
        expect(`${st?.uid}:${st?.gid}`, p).toBe(owner);
      }
      if (want.config !== undefined) expect(img.config.config).toMatchObject(want.config);
      if (want.history !== undefined) expect(img.config.history!.filter((h) => h.comment === "buildkit.dockerfile.v0").map((h) => h.created_by)).toEqual(want.history);
      if (want.layers !== undefined) expect(img.layers.length).toBe(want.layers);
    }, 60_000);
  }
});

import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { lstat, readFile, readlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { build, type BuildEvent, type BuildOptions, type BuildResult } from "../../../src/builder/index.js";
import { LayeredSourceFs } from "../../../src/context/index.js";
import { openStore, type ImageRecord, type Store } from "../../../src/store/index.js";
import { importRootfs } from "../../../src/image/index.js";
import { busyboxTarball } from "../../helpers/busybox.js";

/** bin/berth, for tests of the CLI. */
export const BERTH = join(__dirname, "../../../bin/berth");

/** `berth --root ROOT ARGS` run to its end (BERTH_ROOT cleared, so --root is the store). */
export function berthCli(root: string, args: string[], o: { input?: string; env?: Record<string, string | undefined> } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BERTH, "--root", root, ...args], { encoding: "utf8", maxBuffer: 1 << 28, ...(o.input !== undefined ? { input: o.input } : {}), env: { ...process.env, BERTH_ROOT: "", ...o.env } });
}

/** A temp store with busybox imported as `busybox`, and a place for contexts. */
export async function workspace(prefix: string): Promise<{ dir: string; store: Store; stateDir: string; cleanup(): void }> {
  mkdirSync("/tmp/berth-build-tests", { recursive: true });
  const dir = mkdtempSync(join("/tmp/berth-build-tests", `${prefix}-`));
  const store = await openStore(join(dir, "store"));
  await importRootfs(store, createReadStream(busyboxTarball()), { source: "busybox.tar", tag: "busybox" });
  return { dir, store, stateDir: join(dir, "run"), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes a context: { "Dockerfile": "...", "a/b.txt": "..." }. */
export function writeContext(dir: string, files: Record<string, string>): string {
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  return dir;
}

export interface Built extends BuildResult {
  events: BuildEvent[];
  cachedNames: string[];
  executedNames: string[];
  log: string;
}

export async function runBuild(ws: { store: Store; stateDir: string }, context: string, options: Partial<BuildOptions> = {}): Promise<Built> {
  const events: BuildEvent[] = [];
  let r: BuildResult;
  try {
    r = await build({ context, store: ws.store, stateDir: ws.stateDir, environment: {}, onEvent: (e) => events.push(e), ...options });
  } catch (err) {
    // the events so far, for tests of failed builds
    if (err !== null && typeof err === "object") Object.assign(err, { events });
    throw err;
  }
  const names = new Map<number, string>();
  for (const e of events) if (e.type === "step") names.set(e.id, e.name);
  const cachedNames = events.filter((e) => e.type === "cached").map((e) => names.get(e.id) ?? "");
  const executedNames = events.filter((e) => e.type === "explain").map((e) => names.get(e.id) ?? "");
  const log = events.filter((e) => e.type === "log").map((e) => (e as { data: string }).data).join("");
  return { ...r, events, cachedNames, executedNames, log };
}

/** The image's merged file tree, read through its layers. */
export function imageFs(image: ImageRecord): LayeredSourceFs {
  return new LayeredSourceFs(image.layers.map((l) => l.dir).reverse(), "image");
}

export async function readImageFile(image: ImageRecord, path: string): Promise<string | undefined> {
  const fs = imageFs(image);
  const rel = path.replace(/^\/+/, "");
  const st = fs.lstat(rel);
  if (st === undefined || st.type !== "file") return undefined;
  return readFile(fs.hostPath(rel), "utf8");
}

export function statImage(image: ImageRecord, path: string) {
  return imageFs(image).lstat(path.replace(/^\/+/, ""));
}

export { readFileSync, lstat, readlink };

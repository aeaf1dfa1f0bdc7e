import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { spawn } from "node:child_process";
import type { RuntimeContext } from "./context.js";
import { findContainer } from "./lookup.js";
import { overlayOpaqueXattr } from "../../sys/overlay-xattr.js";

/** One line of `docker diff`: A added, C changed, D deleted. */
export interface Change {
  kind: "A" | "C" | "D";
  path: string;
}

async function existsInLower(lowerDirs: string[], rel: string): Promise<boolean> {
  for (const lower of lowerDirs) {
    const st = await lstat(join(lower, rel)).catch(() => undefined);
    if (st !== undefined) return !(st.isCharacterDevice() && st.rdev === 0);
  }
  return false;
}

/** Directories overlayfs marked opaque (replaced wholesale): one getfattr (package attr) for the whole tree. */
function opaqueDirs(upperDir: string): Promise<Set<string>> {
  return new Promise((resolve) => {
    const name = overlayOpaqueXattr();
    const child = spawn("getfattr", ["-R", "-P", "-n", name, "."], { cwd: upperDir, stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.once("error", () => resolve(new Set()));
    child.once("close", () => {
      const set = new Set<string>();
      let current: string | undefined;
      for (const line of out.split("\n")) {
        if (line.startsWith("# file: ")) current = line.slice(8).replace(/^\.\/?/, "");
        else if (line.startsWith(`${name}="y"`) && current !== undefined) set.add(current);
      }
      resolve(set);
    });
  });
}

/**
 * The container's changes against its image, from its upper dir: a whiteout (char device
 * 0:0) is D, an entry the image has is C, anything else A; an opaque directory is C and its
 * image content D. Sorted by path like `docker diff`.
 */
export async function containerChanges(ctx: RuntimeContext, ref: string): Promise<Change[]> {
  const { record } = await findContainer(ctx, ref);
  const { upperDir, lowerDirs } = record.snapshot;
  const opaque = await opaqueDirs(upperDir);
  const changes: Change[] = [];
  async function walk(rel: string): Promise<void> {
    const entries = await readdir(join(upperDir, rel), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      const st = await lstat(join(upperDir, path));
      if (st.isCharacterDevice() && st.rdev === 0) {
        changes.push({ kind: "D", path: `/${path}` });
        continue;
      }
      changes.push({ kind: (await existsInLower(lowerDirs, path)) ? "C" : "A", path: `/${path}` });
      if (st.isDirectory()) {
        if (opaque.has(path)) {
          for (const lower of lowerDirs) {
            for (const name of await readdir(join(lower, path)).catch(() => [] as string[])) {
              const child = `${path}/${name}`;
              if (!(await lstat(join(upperDir, child)).catch(() => undefined))) changes.push({ kind: "D", path: `/${child}` });
            }
          }
        }
        await walk(path);
      }
    }
  }
  await walk("");
  const seen = new Set<string>();
  return changes
    .filter((c) => (seen.has(c.path) ? false : (seen.add(c.path), true)))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

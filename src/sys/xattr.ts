import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BerthError } from "../errors.js";
import { berthNative } from "./addon.js";

/**
 * Extended attributes (l*xattr(2): a symlink's own, never its target's) through berth's addon;
 * without it, through batch tools, one process per layer rather than per file: `getfattr -R`
 * to read every xattr of a tree, `setfattr --restore` to write many (Debian's attr package).
 */
const nativeXattr = berthNative;

export type XattrMap = Map<string, Map<string, Buffer>>; // absolute path -> name -> value

interface RunResult { stdout: Buffer; stderr: string; code: number }

function run(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => { err += b.toString(); });
    child.on("error", reject);
    child.on("close", (code) => resolve({ stdout: Buffer.concat(out), stderr: err, code: code ?? 1 }));
    if (input !== undefined && child.stdin) {
      child.stdin.on("error", () => undefined); // the exit code reports the failure
      child.stdin.end(input);
    }
  });
}

/** getfattr escapes file names: backslash, control and non-ASCII bytes as \ooo octal. */
function unescapeName(s: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(s, "latin1");
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === 0x5c && i + 3 < raw.length + 0 && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString("latin1"))) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 4).toString("latin1"), 8));
      i += 3;
    } else if (c === 0x5c && raw[i + 1] === 0x5c) {
      bytes.push(0x5c);
      i += 1;
    } else {
      bytes.push(c);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

function escapeName(s: string): string {
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    if (b < 0x21 || b > 0x7e || b === 0x3d || b === 0x5c) out += `\\${b.toString(8).padStart(3, "0")}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

function decodeValue(v: string): Buffer {
  if (v.startsWith("0s")) return Buffer.from(v.slice(2), "base64");
  if (v.startsWith("0x")) return Buffer.from(v.slice(2), "hex");
  if (v.startsWith('"') && v.endsWith('"')) return Buffer.from(v.slice(1, -1), "utf8");
  return Buffer.from(v, "utf8");
}

/** Every extended attribute under `root` (not following symlinks), `pattern` a getfattr -m regex. */
export async function readXattrsRecursive(root: string, pattern = "-"): Promise<XattrMap> {
  const r = await run("getfattr", ["-R", "-P", "-h", "--absolute-names", "-e", "base64", "-m", pattern, "-d", root]);
  // exit 1 with output happens when some file vanished or is unreadable; keep what was read
  if (r.code !== 0 && r.stdout.length === 0 && r.stderr.trim() !== "") {
    throw new BerthError(`reading extended attributes under ${root}: ${r.stderr.trim()}`);
  }
  const map: XattrMap = new Map();
  let current: Map<string, Buffer> | undefined;
  for (const line of r.stdout.toString("latin1").split("\n")) {
    if (line.startsWith("# file: ")) {
      current = new Map();
      map.set(unescapeName(line.slice(8)), current);
    } else if (line !== "" && current !== undefined) {
      const eq = line.indexOf("=");
      const name = eq < 0 ? line : line.slice(0, eq);
      current.set(name, eq < 0 ? Buffer.alloc(0) : decodeValue(line.slice(eq + 1)));
    }
  }
  return map;
}

/**
 * How a walk of the tree under `root` reads each path's xattrs (name → value; undefined when it
 * has none): per path through the binding, or from one getfattr -R run made here.
 */
export async function xattrReader(root: string): Promise<(abs: string) => Map<string, Buffer> | undefined> {
  const x = nativeXattr();
  if (x === null) {
    const all = await readXattrsRecursive(root);
    return (abs) => all.get(abs);
  }
  return (abs) => {
    let names: string[];
    try {
      names = x.listAttributesSync(abs);
    } catch (err) {
      throw new BerthError(`reading extended attributes of ${abs}: ${(err as Error).message}`);
    }
    if (names.length === 0) return undefined;
    const m = new Map<string, Buffer>();
    for (const n of names) {
      const v = x.getAttributeSync(abs, n);
      if (v !== null) m.set(n, v);
    }
    return m.size > 0 ? m : undefined;
  };
}

/** One xattr of a path (symlinks not followed), undefined when it is not set or unreadable. */
export function readXattr(path: string, name: string): Buffer | undefined {
  const x = nativeXattr();
  if (x !== null) {
    try {
      return x.getAttributeSync(path, name) ?? undefined;
    } catch {
      return undefined;
    }
  }
  const r = spawnSync("getfattr", ["-h", "--only-values", "--absolute-names", "-n", name, path], { stdio: ["ignore", "pipe", "ignore"] });
  return r.status === 0 ? r.stdout : undefined;
}

/** Sets many xattrs (symlinks not followed), natively or with one setfattr process. Fails loudly unless `bestEffort`. */
export async function setXattrsBatch(entries: { path: string; name: string; value: Buffer }[], bestEffort = false): Promise<void> {
  if (entries.length === 0) return;
  const x = nativeXattr();
  if (x !== null) {
    for (const e of entries) {
      try {
        x.setAttributeSync(e.path, e.name, e.value);
      } catch (err) {
        if (!bestEffort) throw new BerthError(`setting extended attributes: ${e.path}: ${e.name}: ${(err as Error).message}`);
      }
    }
    return;
  }
  let dump = "";
  for (const e of entries) dump += `# file: ${escapeName(e.path)}\n${e.name}=0s${e.value.toString("base64")}\n\n`;
  const file = join(tmpdir(), `berth-xattr-${randomBytes(6).toString("hex")}`);
  await writeFile(file, dump);
  try {
    const r = await run("setfattr", ["-h", `--restore=${file}`]);
    if (r.code !== 0 && !bestEffort) throw new BerthError(`setting extended attributes: ${r.stderr.trim()}`);
  } finally {
    await rm(file, { force: true });
  }
}

import { spawn, spawnSync } from "node:child_process";
import { writeFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { berthNative } from "../native.js";
import { LayerError } from "./errors.js";

/**
 * What Node cannot do by itself — extended attributes and device nodes. Extended attributes go
 * through berth's addon or @napi-rs/xattr (N-API bindings: l*xattr calls, symlinks not
 * followed); where neither loads (or BERTH_NO_NATIVE_XATTR=1),
 * through batch tools, one process per layer rather than per file: `getfattr -R` to read every
 * xattr of a tree, `setfattr --restore` to write many. Device nodes: one `sh` script for all
 * mknod calls. A getfattr process costs a fork of a Node process with its whole heap mapped,
 * even for an empty tree, once per build step.
 */

interface NativeXattr {
  listAttributesSync(path: string): string[];
  getAttributeSync(path: string, name: string): Buffer | null;
  setAttributeSync(path: string, name: string, value: Uint8Array | string): void;
}

let native: NativeXattr | null | undefined;

/**
 * The binding, loaded at first use: berth's own addon (src/native.ts: already loaded for the
 * store's syncfs), else @napi-rs/xattr (slower to load); null when neither is available.
 */
function nativeXattr(): NativeXattr | null {
  if (native === undefined) {
    native = null;
    if (process.env.BERTH_NO_NATIVE_XATTR !== "1") {
      native = berthNative();
      if (native === null) {
        try {
          native = createRequire(import.meta.url)("@napi-rs/xattr") as NativeXattr;
        } catch {
          native = null;
        }
      }
    }
  }
  return native;
}

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
    throw new LayerError(`reading extended attributes under ${root}: ${r.stderr.trim()}`);
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
      throw new LayerError(`reading extended attributes of ${abs}: ${(err as Error).message}`);
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
        if (!bestEffort) throw new LayerError(`setting extended attributes: ${e.path}: ${e.name}: ${(err as Error).message}`);
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
    if (r.code !== 0 && !bestEffort) throw new LayerError(`setting extended attributes: ${r.stderr.trim()}`);
  } finally {
    await rm(file, { force: true });
  }
}

export interface NodeSpec {
  path: string;
  type: "c" | "b" | "p";
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number; // seconds
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Creates device nodes and fifos (whiteouts are `c 0 0`) with one shell script. Root only for devices. */
export async function mknodBatch(nodes: NodeSpec[], opts: { chown: boolean }): Promise<void> {
  if (nodes.length === 0) return;
  let script = "set -e\n";
  for (const n of nodes) {
    const p = shq(n.path);
    const mode = (n.mode & 0o7777).toString(8);
    script += n.type === "p" ? `mkfifo -m ${mode} ${p}\n` : `mknod -m ${mode} ${p} ${n.type} ${n.major} ${n.minor}\n`;
    if (opts.chown) script += `chown -h ${n.uid}:${n.gid} ${p}\n`;
    if (n.mode & 0o7000) script += `chmod ${mode} ${p}\n`;
    script += `touch -h -d @${Math.floor(n.mtime)} ${p}\n`;
  }
  const r = await run("sh", ["-s"], script);
  if (r.code !== 0) throw new LayerError(`creating device nodes: ${r.stderr.trim()}`);
}

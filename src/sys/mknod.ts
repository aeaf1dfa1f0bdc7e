import { spawn } from "node:child_process";
import { chmodSync, constants, lchownSync, lutimesSync } from "node:fs";
import { BerthError } from "../errors.js";
import { berthNative } from "./addon.js";

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

/** Linux's dev_t of a major and minor number (glibc's makedev). */
function makedev(major: number, minor: number): number {
  return (minor & 0xff) + (major & 0xfff) * 0x100 + Math.floor(minor / 0x100) * 0x100000 + Math.floor(major / 0x1000) * 0x100000000;
}

/**
 * Creates device nodes and fifos (whiteouts are `c 0 0`) with their modes, owners (`chown`)
 * and times: through the addon's mknod(2), else with one shell script (mknod(1), mkfifo(1)).
 * Root only for devices.
 */
export async function mknodBatch(nodes: NodeSpec[], opts: { chown: boolean }): Promise<void> {
  if (nodes.length === 0) return;
  const native = berthNative();
  if (native !== null) {
    for (const n of nodes) {
      const type = n.type === "p" ? constants.S_IFIFO : n.type === "b" ? constants.S_IFBLK : constants.S_IFCHR;
      try {
        native.mknodSync(n.path, type | (n.mode & 0o777), makedev(n.major, n.minor));
        if (opts.chown) lchownSync(n.path, n.uid, n.gid);
        // mknod(2) applies the umask and drops setuid bits; chmod after chown, as the script does
        chmodSync(n.path, n.mode & 0o7777);
        lutimesSync(n.path, n.mtime, n.mtime);
      } catch (err) {
        throw new BerthError(`creating device nodes: ${(err as Error).message}`);
      }
    }
    return;
  }
  let script = "set -e\n";
  for (const n of nodes) {
    const p = shq(n.path);
    const mode = (n.mode & 0o7777).toString(8);
    script += n.type === "p" ? `mkfifo -m ${mode} ${p}\n` : `mknod -m ${mode} ${p} ${n.type} ${n.major} ${n.minor}\n`;
    if (opts.chown) script += `chown -h ${n.uid}:${n.gid} ${p}\n`;
    if (n.mode & 0o7000) script += `chmod ${mode} ${p}\n`;
    script += `touch -h -d @${Math.floor(n.mtime)} ${p}\n`;
  }
  const r = await new Promise<{ code: number; stderr: string }>((resolve, reject) => {
    const child = spawn("sh", ["-s"], { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stderr }));
    child.stdin.on("error", () => undefined); // the exit code reports the failure
    child.stdin.end(script);
  });
  if (r.code !== 0) throw new BerthError(`creating device nodes: ${r.stderr.trim()}`);
}

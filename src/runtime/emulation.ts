import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatPlatform, hostPlatform, normalizePlatform } from "../image/platform.js";
import type { Platform } from "../image/types.js";
import { RuntimeError } from "./errors.js";
import { runProgram } from "./exec-file.js";

/**
 * Foreign architectures through the kernel's binfmt_misc and QEMU's user-mode emulators
 * (Debian's qemu-user-static), as Docker and BuildKit use them: a handler registered with the
 * F (fix binary) flag has its interpreter opened at registration, so it runs inside any
 * container's root without being there. berth registers nothing by itself; `berth system
 * binfmt --install` registers Debian's handlers (/usr/share/binfmts/qemu-*) as
 * tonistiigi/binfmt does.
 */

const BINFMT_DIR = "/proc/sys/fs/binfmt_misc";
const DEBIAN_FORMATS = "/usr/share/binfmts";

/** GOARCH → QEMU's name for it (the handler is `qemu-<name>`). */
const QEMU_ARCH: Record<string, string> = {
  amd64: "x86_64", "386": "i386", arm64: "aarch64", arm: "arm", ppc64le: "ppc64le", ppc64: "ppc64", s390x: "s390x",
  riscv64: "riscv64", mips64le: "mips64el", mips64: "mips64", mipsle: "mipsel", mips: "mips", loong64: "loongarch64",
};

/** Architectures this machine runs without an emulator (an amd64 kernel runs 386 too). */
function nativeArchitectures(): string[] {
  const host = hostPlatform().architecture;
  return host === "amd64" ? ["amd64", "386"] : host === "arm64" ? ["arm64"] : [host];
}

export function needsEmulation(p: Platform): boolean {
  const n = normalizePlatform(p);
  return n.os === "linux" && !nativeArchitectures().includes(n.architecture);
}

export interface EmulatorState {
  /** the binfmt_misc handler's name, `qemu-aarch64` */
  name: string;
  registered: boolean;
  enabled: boolean;
  fixBinary: boolean;
  interpreter: string | undefined;
}

export function emulatorState(p: Platform): EmulatorState {
  const qemu = QEMU_ARCH[normalizePlatform(p).architecture] ?? normalizePlatform(p).architecture;
  const name = `qemu-${qemu}`;
  let text: string;
  try {
    text = readFileSync(join(BINFMT_DIR, name), "utf8");
  } catch {
    return { name, registered: false, enabled: false, fixBinary: false, interpreter: undefined };
  }
  const flags = /^flags:\s*(\S*)/m.exec(text)?.[1] ?? "";
  return { name, registered: true, enabled: /^enabled/m.test(text), fixBinary: flags.includes("F"), interpreter: /^interpreter\s+(\S+)/m.exec(text)?.[1] };
}

/**
 * Throws, saying what to do, unless a program built for `p` can run here (natively, or through
 * an enabled emulator registered with the F flag). `what` names what wanted to run.
 */
export function checkEmulation(p: Platform, what: string): void {
  if (p.os !== "linux") throw new RuntimeError(`${what}: ${formatPlatform(p)} images cannot run on linux`);
  if (!needsEmulation(p)) return;
  const s = emulatorState(p);
  const how = "install Debian's qemu-user-static and run `berth system binfmt --install`";
  const platform = formatPlatform(normalizePlatform(p));
  if (!s.registered) throw new RuntimeError(`${what} is ${platform} and this machine is ${formatPlatform(hostPlatform())}: no emulator is registered for it (${join(BINFMT_DIR, s.name)} is missing); ${how}`);
  if (!s.enabled) throw new RuntimeError(`${what} is ${platform}: its emulator ${s.name} is registered but disabled; ${how}`);
  if (!s.fixBinary) throw new RuntimeError(`${what} is ${platform}: its emulator ${s.name} (${s.interpreter ?? "?"}) is registered without the F flag, so containers cannot reach it; ${how} to register it again`);
}

/** The platforms this machine runs, natively or emulated (tonistiigi/binfmt's "supported"). */
export function supportedPlatforms(): string[] {
  const out = nativeArchitectures().map((a) => `linux/${a}`);
  for (const arch of Object.keys(QEMU_ARCH)) {
    if (out.includes(`linux/${arch}`)) continue;
    const s = emulatorState({ os: "linux", architecture: arch });
    if (s.registered && s.enabled && s.fixBinary) out.push(formatPlatform(normalizePlatform({ os: "linux", architecture: arch })));
  }
  return out;
}

/** One of Debian's binfmt format files (update-binfmts' format). */
function readDebianFormat(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * Registers Debian's QEMU handlers with the F flag (and P, as Debian's files ask), mounting
 * binfmt_misc first when it is not mounted; a handler registered without F is registered again.
 * The host's own architectures are left out. Returns the names registered now.
 */
export async function installEmulators(): Promise<string[]> {
  if (process.getuid?.() !== 0) throw new RuntimeError("berth system binfmt --install needs root (it registers binfmt_misc handlers)");
  if (!existsSync(DEBIAN_FORMATS) || !readdirSync(DEBIAN_FORMATS).some((f) => f.startsWith("qemu-"))) {
    throw new RuntimeError(`no QEMU handlers in ${DEBIAN_FORMATS}: install Debian's qemu-user-static (apt-get install qemu-user-static) first`);
  }
  if (!existsSync(join(BINFMT_DIR, "register"))) {
    const r = await runProgram("mount", ["-t", "binfmt_misc", "binfmt_misc", BINFMT_DIR]);
    if (r.code !== 0) throw new RuntimeError(`mounting binfmt_misc on ${BINFMT_DIR} failed: ${r.stderr.trim()}`);
  }
  const native = new Set(nativeArchitectures().map((a) => `qemu-${QEMU_ARCH[a] ?? a}`));
  const done: string[] = [];
  for (const file of readdirSync(DEBIAN_FORMATS).filter((f) => f.startsWith("qemu-")).sort()) {
    if (native.has(file)) continue;
    const f = readDebianFormat(join(DEBIAN_FORMATS, file));
    if (f.magic === undefined || f.interpreter === undefined || !existsSync(f.interpreter)) continue;
    const entry = join(BINFMT_DIR, file);
    if (existsSync(entry)) {
      if (/^flags:\s*\S*F/m.test(readFileSync(entry, "utf8"))) continue;
      writeFileSync(entry, "-1"); // unregister, to register again with F
    }
    const flags = `F${f.preserve === "yes" ? "P" : ""}${f.credentials === "yes" ? "C" : ""}`;
    // the magic and mask keep Debian's \x escapes: binfmt_misc decodes them
    writeFileSync(join(BINFMT_DIR, "register"), `:${file}:M:${f.offset ?? "0"}:${f.magic}:${f.mask ?? ""}:${f.interpreter}:${flags}`);
    done.push(file);
  }
  return done;
}

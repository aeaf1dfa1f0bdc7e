import { BerthError } from "../errors.js";
import type { Descriptor, ImageConfig, ImageIndex, Platform } from "./types.js";

/**
 * Platforms as containerd's `platforms` package spells and matches them: `os/arch[/variant]`,
 * normalised (`x86_64` → amd64, `aarch64` and `arm64/v8` → arm64, `armhf` → arm/v7, a bare
 * `arm` → arm/v7), so that `linux/arm64/v8` and `linux/arm64` are one platform.
 */

/** A `--platform` or `FROM --platform` value that is not a platform (exit 125, as a usage error). */
export class PlatformError extends BerthError {
  constructor(message: string) {
    super(message, { exitCode: 125 });
  }
}

const KNOWN_OS = new Set(["aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos"]);
const KNOWN_ARCH = new Set(["386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "ppc64", "ppc64le", "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm"]);

/** containerd's normalizeArch. */
export function normalizeArch(arch: string, variant = ""): { architecture: string; variant: string } {
  let a = arch.toLowerCase();
  let v = variant.toLowerCase();
  switch (a) {
    case "i386":
      a = "386";
      v = "";
      break;
    case "x86_64":
    case "x86-64":
    case "amd64":
      a = "amd64";
      if (v === "v1") v = "";
      break;
    case "aarch64":
    case "arm64":
      a = "arm64";
      if (v === "8" || v === "v8" || v === "v8.0") v = "";
      else if (v === "9" || v === "9.0" || v === "v9.0") v = "v9";
      break;
    case "armhf":
      a = "arm";
      v = "v7";
      break;
    case "armel":
      a = "arm";
      v = "v6";
      break;
    case "arm":
      if (v === "" || v === "7") v = "v7";
      else if (v === "5" || v === "6" || v === "8") v = `v${v}`;
      break;
  }
  return { architecture: a, variant: v };
}

/** A platform normalised (no empty variant field). */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase() === "macos" ? "darwin" : p.os.toLowerCase();
  const { architecture, variant } = normalizeArch(p.architecture, p.variant);
  return { os, architecture, ...(variant !== "" ? { variant } : {}) };
}

/** This machine's platform (Node's process.arch in Go's GOARCH names). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64" };
  return normalizePlatform({ os: "linux", architecture: arch[process.arch] ?? process.arch });
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant !== undefined && p.variant !== "" ? `/${p.variant}` : ""}`;
}

/**
 * Parses a `--platform` value as containerd's platforms.Parse: `os/arch[/variant]`, or one word
 * that is an OS (this machine's architecture) or an architecture (os linux); normalised.
 */
export function parsePlatform(text: string): Platform {
  const invalid = (why: string) => new PlatformError(`${JSON.stringify(text)}: ${why}: invalid argument`);
  const parts = text.trim().split("/");
  if (parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p))) throw invalid("invalid platform component");
  if (parts.length > 3) throw invalid("cannot parse platform: too many components (want os/arch[/variant])");
  if (parts.length === 1) {
    const word = parts[0]!.toLowerCase();
    if (KNOWN_OS.has(word)) return { ...hostPlatform(), os: word };
    const { architecture, variant } = normalizeArch(word);
    if (KNOWN_ARCH.has(architecture)) return normalizePlatform({ os: "linux", architecture, variant });
    throw invalid("unknown operating system or architecture");
  }
  const p = normalizePlatform({ os: parts[0]!, architecture: parts[1]!, ...(parts[2] !== undefined ? { variant: parts[2] } : {}) });
  if (!KNOWN_OS.has(p.os)) throw invalid(`unknown operating system ${JSON.stringify(p.os)}`);
  if (!KNOWN_ARCH.has(p.architecture)) throw invalid(`unknown architecture ${JSON.stringify(p.architecture)}`);
  return p;
}

/** A comma-separated list of platforms (`build --platform linux/amd64,linux/arm64`), without repeats. */
export function parsePlatformList(text: string): Platform[] {
  const out: Platform[] = [];
  for (const part of text.split(",")) {
    if (part.trim() === "") continue;
    const p = parsePlatform(part);
    if (!out.some((q) => samePlatform(q, p))) out.push(p);
  }
  if (out.length === 0) throw new PlatformError(`${JSON.stringify(text)}: no platform given`);
  return out;
}

export function samePlatform(a: Platform, b: Platform): boolean {
  return formatPlatform(normalizePlatform(a)) === formatPlatform(normalizePlatform(b));
}

/** An image config's platform, normalised. */
export function platformOfConfig(config: Pick<ImageConfig, "os" | "architecture" | "variant">): Platform {
  return normalizePlatform({ os: config.os ?? "linux", architecture: config.architecture ?? "amd64", ...(config.variant !== undefined ? { variant: config.variant } : {}) });
}

/**
 * Does an image of platform `have` serve `wanted`? Same os and architecture; a wanted variant
 * must be the image's (an image without one serves any variant, as containerd's matcher
 * accepts it for a host that has one).
 */
export function platformMatches(wanted: Platform, have: Platform): boolean {
  const w = normalizePlatform(wanted);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  return w.variant === undefined || h.variant === undefined || w.variant === h.variant;
}

/**
 * The index entry for a platform, as containerd's matcher picks it: same os and architecture,
 * matching variants, an exact variant preferred over an entry without one, else the first in
 * the index. Attestation manifests (`unknown/unknown`) never match.
 */
export function selectPlatform(index: ImageIndex, wanted: Platform): Descriptor | undefined {
  const w = normalizePlatform(wanted);
  const candidates = index.manifests.filter((d) => d.platform !== undefined && platformMatches(w, d.platform));
  return candidates.find((d) => normalizePlatform(d.platform!).variant === w.variant) ?? candidates[0];
}

/** Does an image of platform `have` serve one of `wanted` (a `--platform` list)? */
export function matchesAny(wanted: readonly Platform[], have: Platform): boolean {
  return wanted.some((w) => platformMatches(w, have));
}

/**
 * An index narrowed to its images of the wanted platforms (`save`/`load --platform`): the
 * kept entries byte for byte, in order, in an index of their own — or the index's own bytes
 * when it keeps every image (attestations aside), so its digest holds.
 */
export function narrowIndex(bytes: Buffer, wanted: readonly Platform[]): { bytes: Buffer; entries: Descriptor[] } {
  const index = JSON.parse(bytes.toString("utf8")) as ImageIndex;
  const images = index.manifests.filter((d) => d.platform !== undefined && d.platform.os !== "unknown");
  const entries = images.filter((d) => matchesAny(wanted, d.platform!));
  if (entries.length === images.length) return { bytes, entries };
  return { bytes: Buffer.from(JSON.stringify({ ...index, manifests: entries })), entries };
}

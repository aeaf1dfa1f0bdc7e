import type { Descriptor, ImageIndex, Platform } from "../image/types.js";

/** The platform of this machine in OCI terms (Go's GOARCH names). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
  const p: Platform = { os: "linux", architecture: arch[process.arch] ?? process.arch };
  if (p.architecture === "arm64") p.variant = "v8";
  return p;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant !== undefined ? `/${p.variant}` : ""}`;
}

/** Parses `os/arch[/variant]` (the `--platform` flag). */
export function parsePlatform(text: string): Platform | undefined {
  const [os, architecture, variant] = text.split("/");
  if (os === undefined || os === "" || architecture === undefined || architecture === "") return undefined;
  const p: Platform = { os, architecture };
  if (variant !== undefined && variant !== "") p.variant = variant;
  return p;
}

/**
 * The index entry for a platform, as containerd's matcher picks it: same os and architecture;
 * a wanted variant must match (arm64's `v8` also matches an entry without a variant); among
 * several matches the first in the index wins. Attestation manifests (`unknown/unknown`) never match.
 */
export function selectPlatform(index: ImageIndex, wanted: Platform): Descriptor | undefined {
  const candidates = index.manifests.filter((d) => {
    const p = d.platform;
    if (p === undefined) return false;
    if (p.os !== wanted.os || p.architecture !== wanted.architecture) return false;
    if (wanted.variant === undefined || p.variant === undefined) return wanted.variant !== undefined ? wanted.variant === "v8" || p.variant === wanted.variant : true;
    return p.variant === wanted.variant;
  });
  // Prefer an exact variant match over a variant-less entry.
  return candidates.find((d) => d.platform?.variant === wanted.variant) ?? candidates[0];
}

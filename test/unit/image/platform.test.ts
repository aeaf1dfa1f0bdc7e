import { describe, expect, it } from "vitest";
import { formatPlatform, narrowIndex, parsePlatform, parsePlatformList, PlatformError } from "../../../src/image/platform.js";

describe("parsePlatform (containerd's platforms.Parse and Normalize)", () => {
  it.each([
    ["linux/amd64", "linux/amd64"],
    ["linux/x86_64", "linux/amd64"],
    ["linux/amd64/v1", "linux/amd64"],
    ["linux/amd64/v3", "linux/amd64/v3"],
    ["linux/arm64", "linux/arm64"],
    ["linux/arm64/v8", "linux/arm64"],
    ["linux/aarch64", "linux/arm64"],
    ["linux/arm", "linux/arm/v7"],
    ["linux/arm/7", "linux/arm/v7"],
    ["linux/armhf", "linux/arm/v7"],
    ["linux/armel", "linux/arm/v6"],
    ["linux/i386", "linux/386"],
    ["Linux/ARM64", "linux/arm64"],
    ["arm64", "linux/arm64"],
    ["s390x", "linux/s390x"],
    ["linux/riscv64", "linux/riscv64"],
  ])("%s → %s", (text, want) => {
    expect(formatPlatform(parsePlatform(text))).toBe(want);
  });

  it.each(["", "linux/", "foo", "linux/foo", "plan10/amd64", "linux/arm64/v8/x", "linux/amd 64"])("refuses %j with exit 125", (text) => {
    let err: unknown;
    try {
      parsePlatform(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlatformError);
    expect((err as PlatformError).exitCode).toBe(125);
    expect((err as Error).message).toContain(JSON.stringify(text));
  });

  it("a list keeps its order and drops repeats (linux/arm64/v8 is linux/arm64)", () => {
    expect(parsePlatformList("linux/arm64, linux/amd64,linux/arm64/v8").map(formatPlatform)).toEqual(["linux/arm64", "linux/amd64"]);
  });
});

describe("narrowIndex (save/load --platform of a multi-platform image)", () => {
  const d = (n: number, platform: { os: string; architecture: string; variant?: string }) => ({ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: `sha256:${String(n).repeat(64)}`, size: 100 + n, platform });
  const index = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [d(1, { os: "linux", architecture: "amd64" }), d(2, { os: "linux", architecture: "arm64" }), d(3, { os: "linux", architecture: "arm", variant: "v7" }), d(4, { os: "unknown", architecture: "unknown" })] };
  const bytes = Buffer.from(`${JSON.stringify(index, null, 2)}\n`);

  it("every image kept: the index's own bytes (attestations do not count)", () => {
    const r = narrowIndex(bytes, parsePlatformList("linux/arm/v7,linux/amd64,linux/arm64/v8"));
    expect(r.bytes).toBe(bytes);
    expect(r.entries.map((e) => e.digest.slice(7, 8))).toEqual(["1", "2", "3"]);
  });

  it("a subset: a new index of those entries, unchanged and in the index's order; none: no entries", () => {
    const r = narrowIndex(bytes, parsePlatformList("linux/arm,linux/amd64"));
    expect(JSON.parse(r.bytes.toString()).manifests).toEqual([index.manifests[0], index.manifests[2]]);
    expect(narrowIndex(bytes, parsePlatformList("linux/s390x")).entries).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { formatPlatform, parsePlatform, parsePlatformList, PlatformError } from "../../../src/image/platform.js";

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

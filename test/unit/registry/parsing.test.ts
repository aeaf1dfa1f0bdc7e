import { describe, expect, it } from "vitest";
import { parseChallenges, parseRemoteReference, formatRemoteReference, selectPlatform, RegistryError } from "../../../src/registry/index.js";
import { MediaType, type ImageIndex } from "../../../src/image/types.js";
import type { Digest } from "../../../src/image/digest.js";

describe("parseChallenges", () => {
  it.each([
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
      [{ scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:samalba/my-app:pull,push" } }],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: "basic", params: { realm: "Registry Realm" } }]],
    ['basic realm=plain', [{ scheme: "basic", params: { realm: "plain" } }]],
    [
      'Bearer realm="http://t/token",service="s",scope="repository:a:pull",error="insufficient_scope"',
      [{ scheme: "bearer", params: { realm: "http://t/token", service: "s", scope: "repository:a:pull", error: "insufficient_scope" } }],
    ],
    ['Negotiate abc, Basic realm="x\\"y"', [{ scheme: "basic", params: { realm: 'x"y' } }]],
    ["", []],
  ])("%s", (header, expected) => {
    expect(parseChallenges(header)).toEqual(expected);
  });
});

const D = `sha256:${"a".repeat(64)}` as Digest;

describe("parseRemoteReference (Docker's normalisation)", () => {
  it.each([
    ["busybox", { registry: "docker.io", repository: "library/busybox", tag: "latest" }],
    ["user/app:1.0", { registry: "docker.io", repository: "user/app", tag: "1.0" }],
    ["localhost/app", { registry: "localhost", repository: "app", tag: "latest" }],
    ["127.0.0.1:5000/a/b:t", { registry: "127.0.0.1:5000", repository: "a/b", tag: "t" }],
    [`quay.io/x/y@${D}`, { registry: "quay.io", repository: "x/y", digest: D }],
    [`reg:5000/y:t@${D}`, { registry: "reg:5000", repository: "y", tag: "t", digest: D }],
    ["index.docker.io/library/alpine", { registry: "docker.io", repository: "library/alpine", tag: "latest" }],
  ])("%s", (text, expected) => {
    const ref = parseRemoteReference(text);
    expect(ref).toEqual(expected);
  });

  it.each(["upper/Case", "a/b:bad tag", "x@sha256:123", "a//b"])("rejects %s naming it", (text) => {
    expect(() => parseRemoteReference(text)).toThrow(RegistryError);
    expect(() => parseRemoteReference(text)).toThrow(text);
  });

  it("formats back", () => {
    expect(formatRemoteReference(parseRemoteReference("127.0.0.1:5000/a:t"))).toBe("127.0.0.1:5000/a:t");
  });
});

describe("selectPlatform", () => {
  const d = (n: string): Digest => `sha256:${n.repeat(64)}` as Digest;
  const index: ImageIndex = {
    schemaVersion: 2,
    manifests: [
      { mediaType: MediaType.OciManifest, digest: d("1"), size: 1, platform: { os: "unknown", architecture: "unknown" } },
      { mediaType: MediaType.OciManifest, digest: d("2"), size: 1, platform: { os: "linux", architecture: "arm", variant: "v7" } },
      { mediaType: MediaType.OciManifest, digest: d("3"), size: 1, platform: { os: "linux", architecture: "arm64" } },
      { mediaType: MediaType.OciManifest, digest: d("4"), size: 1, platform: { os: "linux", architecture: "amd64" } },
      { mediaType: MediaType.OciManifest, digest: d("5"), size: 1, platform: { os: "windows", architecture: "amd64" } },
    ],
  };
  it.each([
    [{ os: "linux", architecture: "amd64" }, d("4")],
    [{ os: "linux", architecture: "arm64", variant: "v8" }, d("3")],
    [{ os: "linux", architecture: "arm", variant: "v7" }, d("2")],
    [{ os: "linux", architecture: "arm", variant: "v6" }, undefined],
    [{ os: "linux", architecture: "s390x" }, undefined],
  ])("%o", (wanted, expected) => {
    expect(selectPlatform(index, wanted)?.digest).toBe(expected);
  });
});

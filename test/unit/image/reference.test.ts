import { describe, expect, it } from "vitest";
import { familiarString, formatReference, normalizeTag, parseNormalizedNamed, parseReference } from "../../../src/image/reference.js";

const D = `sha256:${"ab".repeat(32)}`;

// input | normalized full form | familiar form
const good: [string, string, string][] = [
  ["busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"],
  ["library/busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["docker.io/library/busybox:x", "docker.io/library/busybox:x", "busybox:x"],
  ["index.docker.io/me/app", "docker.io/me/app:latest", "me/app:latest"],
  ["me/app:v1.2-rc_3", "docker.io/me/app:v1.2-rc_3", "me/app:v1.2-rc_3"],
  ["localhost/app", "localhost/app:latest", "localhost/app:latest"],
  ["localhost:5000/ns/app:tag", "localhost:5000/ns/app:tag", "localhost:5000/ns/app:tag"],
  ["registry.example.com:5000/a/b/c", "registry.example.com:5000/a/b/c:latest", "registry.example.com:5000/a/b/c:latest"],
  [`app@${D}`, `docker.io/library/app@${D}`, `app@${D}`],
  [`app:v1@${D}`, `docker.io/library/app:v1@${D}`, `app:v1@${D}`],
  ["a__b-c_d/e", "docker.io/a__b-c_d/e:latest", "a__b-c_d/e:latest"],
  ["[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"],
];

const bad: [string, RegExp][] = [
  ["", /empty/],
  ["Busybox", /lowercase/],
  ["busybox:", /invalid tag/],
  ["busybox:-x", /invalid tag/],
  [`busybox@sha256:abc`, /digest/],
  ["a//b", /name component/],
  ["a_b.c/x", /registry host/],
  ["a/-b", /name component/],
  ["ab".repeat(32), /64-byte hexadecimal/],
  [":tag", /empty repository/],
  [`x:${"t".repeat(129)}`, /invalid tag/],
];

describe("parseReference", () => {
  it.each(good)("%s → %s", (input, full, familiar) => {
    const ref = parseNormalizedNamed(input);
    expect(formatReference(ref)).toBe(full);
    expect(familiarString(ref)).toBe(familiar);
  });
  it.each(bad)("refuses %j", (input, why) => {
    expect(() => parseReference(input)).toThrow(why);
  });
  it("does not add a tag when a digest is given", () => {
    expect(parseNormalizedNamed(`x@${D}`).tag).toBeUndefined();
  });
  it("normalizeTag refuses digests", () => {
    expect(() => normalizeTag(`x@${D}`)).toThrow(/digest/);
    expect(normalizeTag("x")).toBe("docker.io/library/x:latest");
  });
});

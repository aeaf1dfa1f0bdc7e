import { describe, expect, it } from "vitest";
import { parseCacheFrom, parseCacheTo, splitCsv } from "../../../src/builder/cache-options.js";
import { UsageError } from "../../../src/errors.js";

describe("--cache-from / --cache-to (BuildKit's syntax)", () => {
  it.each([
    ["type=registry,ref=reg:5000/app:cache", [{ type: "registry", ref: "reg:5000/app:cache" }]],
    ["reg:5000/app:cache", [{ type: "registry", ref: "reg:5000/app:cache" }]],
    ["a/b:1,c/d:2", [{ type: "registry", ref: "a/b:1" }, { type: "registry", ref: "c/d:2" }]],
    ["ref=x/y:1,TYPE=registry", [{ type: "registry", ref: "x/y:1" }]],
    ["type=local,src=/ci/cache", [{ type: "local", src: "/ci/cache", tag: "latest" }]],
    ['type=local,"src=/dir,with,commas",tag=v2', [{ type: "local", src: "/dir,with,commas", tag: "v2" }]],
  ])("--cache-from %s", (text, want) => {
    expect(parseCacheFrom(text)).toMatchObject(want);
  });

  it.each([
    ["type=registry,ref=r/c:1", { type: "registry", ref: "r/c:1", mode: "min", ignoreError: false }],
    ["type=registry,ref=r/c:1,mode=max,ignore-error=true", { type: "registry", ref: "r/c:1", mode: "max", ignoreError: true }],
    ["type=registry,ref=r/c:1,oci-mediatypes=true,image-manifest=true,compression=gzip", { type: "registry", mode: "min" }],
    ["type=local,dest=/ci/cache,mode=max", { type: "local", dest: "/ci/cache", tag: "latest", mode: "max" }],
  ])("--cache-to %s", (text, want) => {
    expect(parseCacheTo(text)[0]).toMatchObject(want);
  });

  it.each([
    ["--cache-to", "type=registry,ref=r/c:1,mode=all", /--cache-to type=registry,ref=r\/c:1,mode=all: invalid cache mode "all"/],
    ["--cache-to", "type=registry", /--cache-to type=registry: ref= is required/],
    ["--cache-to", "type=local,src=/x", /--cache-to type=local,src=\/x: unknown attribute "src"/],
    ["--cache-to", "type=gha,scope=x", /cache type gha is not supported by berth/],
    ["--cache-to", "type=registry,ref=r/c:1,ignore-error=maybe", /ignore-error= wants true or false/],
    ["--cache-from", "type=ftp,ref=x", /--cache-from type=ftp,ref=x: unknown cache type "ftp"/],
    ["--cache-from", "ref=x,src", /--cache-from ref=x,src: invalid field "src"/],
    ["--cache-from", "src=/x", /type required/],
    ["--cache-from", "type=local", /src= is required/],
    ["--cache-from", "type=local,src=/x,digest=abc", /digest= wants sha256/],
    ["--cache-from", "type=registry,ref=x,mode=max", /unknown attribute "mode"/],
    ["--cache-from", "", /--cache-from: empty value/],
    ["--cache-from", 'type=local,"src=/x', /unterminated quote/],
  ])("%s %s is a usage error naming the flag", (flag, text, message) => {
    const parse = flag === "--cache-to" ? parseCacheTo : parseCacheFrom;
    expect(() => parse(text)).toThrow(UsageError);
    expect(() => parse(text)).toThrow(message);
  });

  it("splits CSV as Go's encoding/csv", () => {
    expect(splitCsv('a=1,"b=2,3","c=""q"""', "--x")).toEqual(["a=1", "b=2,3", 'c="q"']);
    expect(splitCsv("a=1,,b=2", "--x")).toEqual(["a=1", "", "b=2"]);
  });
});

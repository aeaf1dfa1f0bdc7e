import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import { freePort } from "../../helpers/registry.js";
import { workspace, writeContext, berthCli } from "./helpers.js";

/** RUN needs root and runc. */
const canRun = process.getuid?.() === 0 && (existsSync("/usr/sbin/runc") || existsSync("/usr/bin/runc"));

/** `berth build --cache-from/--cache-to` as a CI script calls it: flag errors, warnings, exit codes. */
let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
beforeAll(async () => {
  ws = await workspace("shared-cli");
}, 60_000);
afterAll(() => ws?.cleanup());

function berth(args: string[]) {
  return berthCli(join(ws.dir, "store"), args);
}

describe.skipIf(!canRun)("berth build --cache-from / --cache-to (CLI)", () => {
  it("a malformed value is a usage error naming the flag, before anything is built", () => {
    const ctx = writeContext(join(ws.dir, "c1"), { Dockerfile: "FROM busybox\nRUN echo flag > /f\n" });
    const r = berth(["build", "--cache-to", "type=registry,ref=r/c:1,mode=everything", ctx]);
    expect(r.status).toBe(125);
    expect(r.stderr).toContain('--cache-to type=registry,ref=r/c:1,mode=everything: invalid cache mode "everything"');
    const s = berth(["build", "--cache-from", "type=s3,bucket=b", ctx]);
    expect(s.status).toBe(125);
    expect(s.stderr).toContain("--cache-from type=s3,bucket=b: cache type s3 is not supported by berth");
  });

  it("--cache-from an unreachable registry warns and builds; --cache-to one fails with exit 1 after the image is built", async () => {
    const ctx = writeContext(join(ws.dir, "c2"), { Dockerfile: "FROM busybox\nRUN echo unreachable > /u\n" });
    const ref = `127.0.0.1:${await freePort()}/ci/cache:main`;
    const from = berth(["build", "--progress=plain", "--iidfile", join(ws.dir, "iid"), "--cache-from", `type=registry,ref=${ref}`, ctx]);
    expect(from.status).toBe(0);
    expect(from.stderr).toContain(`--cache-from type=registry,ref=${ref}: cannot import the build cache, building without it`);
    const to = berth(["build", "--progress=plain", "--cache-to", `type=registry,ref=${ref},mode=max`, ctx]);
    expect(to.status).toBe(1);
    expect(to.stderr).toContain(`--cache-to type=registry,ref=${ref},mode=max: failed to export the build cache`);
    expect(to.stderr).toContain("registry unreachable");
  }, 60_000);

  it("type=local round trip through the CLI", () => {
    const ctx = writeContext(join(ws.dir, "c3"), { Dockerfile: "FROM busybox\nRUN echo local > /l\n" });
    const dir = join(ws.dir, "ci-cache");
    const a = berth(["build", "-q", "--cache-to", `type=local,dest=${dir}`, ctx]);
    expect(a.status).toBe(0);
    const b = berth(["build", "--progress=plain", "--no-cache", "--cache-from", `type=local,src=${dir}`, ctx]);
    // --no-cache ignores every cache, imported ones too (BuildKit).
    expect(b.status).toBe(0);
    expect(b.stderr).toContain("[2/2] RUN echo local > /l");
    expect(b.stderr).toMatch(/cache miss: --no-cache/);
    expect(b.stderr).not.toContain("importing cache manifest");
    const c = berth(["build", "--progress=plain", "--cache-from", `type=local,src=${dir}`, ctx]);
    expect(c.status).toBe(0);
    expect(c.stderr).toContain("importing cache manifest from " + dir);
  }, 60_000);
});

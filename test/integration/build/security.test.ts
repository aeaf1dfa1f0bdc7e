import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/index.js";
import { hasBusybox } from "../../helpers/busybox.js";
import { berthCli, runBuild, workspace, writeContext } from "./helpers.js";

/**
 * Build steps under Docker's seccomp profile (real runc, real seccomp), and BuildKit's
 * entitlements: RUN --security=insecure and RUN --network=host need `--allow`.
 */
describe.runIf(process.getuid?.() === 0 && hasBusybox())("build steps' confinement and entitlements", () => {
  let ws: { dir: string; store: Store; stateDir: string; cleanup(): void };
  let n = 0;
  const ctx = (files: Record<string, string>) => writeContext(join(ws.dir, `c${n++}`), files);
  beforeAll(async () => {
    ws = await workspace("security");
  }, 60_000);
  afterAll(() => ws?.cleanup());

  const probe = "grep -E '^(Seccomp|CapEff):' /proc/self/status; unshare -U true && echo userns-ok || echo userns-refused";

  it("a RUN step runs under Docker's default profile: unshare(CLONE_NEWUSER) fails with EPERM", async () => {
    const r = await runBuild(ws, ctx({ Dockerfile: `FROM busybox\nRUN ${probe}\n` }));
    expect(r.log).toMatch(/Seccomp:\s+2/);
    expect(r.log).toContain("userns-refused");
    expect(r.log).toMatch(/Operation not permitted/);
    expect(r.log).toContain("CapEff:\t00000000a80425fb");
  }, 60_000);

  it("RUN --security=insecure is refused without --allow security.insecure, before any step runs", async () => {
    const df = `FROM busybox\nRUN echo first-step-ran\nRUN --security=insecure ${probe}\n`;
    const err = await runBuild(ws, ctx({ Dockerfile: df })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/security\.insecure is not allowed/);
    expect((err as Error & { line?: number }).line).toBe(3);
    const events = (err as { events?: Array<{ type: string; data?: string }> }).events ?? [];
    expect(events.some((e) => e.type === "log" && (e.data ?? "").includes("first-step-ran"))).toBe(false);
  }, 60_000);

  it("with --allow security.insecure the step runs privileged: all capabilities, no seccomp; the mode is in the cache key", async () => {
    const step = `echo keyed; ${probe}`;
    const c = ctx({ Dockerfile: `FROM busybox\nRUN --security=insecure ${step}\n` });
    const r = await runBuild(ws, c, { allow: ["security.insecure"] });
    expect(r.log).toMatch(/Seccomp:\s+0/);
    expect(r.log).toContain("userns-ok");
    expect(r.log).not.toContain("CapEff:\t00000000a80425fb");
    // the same command in the sandbox is another step: not a cache hit of the insecure one
    const sandboxed = await runBuild(ws, ctx({ Dockerfile: `FROM busybox\nRUN --security=sandbox ${step}\n` }));
    expect(sandboxed.cachedNames).toEqual([]);
    expect(sandboxed.log).toContain("userns-refused");
    // and the insecure step again is one
    const again = await runBuild(ws, c, { allow: ["security.insecure"] });
    expect(again.cachedNames.length).toBe(1);
  }, 90_000);

  it("RUN --network=host needs --allow network.host", async () => {
    const df = "FROM busybox\nRUN --network=host true\n";
    await expect(runBuild(ws, ctx({ Dockerfile: df }))).rejects.toThrow(/network\.host is not allowed/);
    const ok = await runBuild(ws, ctx({ Dockerfile: df }), { allow: ["network.host"] });
    expect(ok.executedSteps).toBe(1);
  }, 60_000);

  it("the CLI: --allow takes a list or repeats, refuses an unknown entitlement, and the refusal names the line", () => {
    const root = join(ws.dir, "store");
    const c = ctx({ Dockerfile: `FROM busybox\nRUN true\nRUN --security=insecure grep Seccomp: /proc/self/status\n` });
    const refused = berthCli(root, ["build", "--progress=plain", c]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/Dockerfile:3.*security\.insecure is not allowed/);
    expect(refused.stderr).toMatch(/--allow security\.insecure/);
    const list = berthCli(root, ["build", "--progress=plain", "--allow", "network.host,security.insecure", c]);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stderr).toMatch(/Seccomp:\s+0/);
    const repeated = berthCli(root, ["build", "-q", "--allow", "network.host", "--allow", "security.insecure", c]);
    expect(repeated.status, repeated.stderr).toBe(0);
    const unknown = berthCli(root, ["build", "--allow", "device", c]);
    expect(unknown.status).toBe(125);
    expect(unknown.stderr).toMatch(/--allow: invalid entitlement: "device"/);
  }, 90_000);
});

import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { isAlive, isServing, processRef } from "../../../src/runtime/container/record.js";

describe("isAlive, isServing", () => {
  it("isServing is true for a running process and false from the moment it is sent SIGKILL; isAlive until it is gone", async () => {
    // a process with memory to free: its exit takes a while after the signal
    const child = spawn(process.execPath, ["-e", "const b = Buffer.alloc(1536 << 20, 1); setInterval(() => b[0]++, 1000)"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 1500));
    const ref = processRef(child.pid as number);
    expect(ref).toBeDefined();
    expect(isAlive(ref)).toBe(true);
    expect(isServing(ref)).toBe(true);
    const closed = new Promise((r) => child.once("close", r));
    child.kill("SIGKILL");
    expect(isServing(ref)).toBe(false);
    await closed;
    expect(isAlive(ref)).toBe(false);
    expect(isServing(ref)).toBe(false);
  });

  it("is false for a pid reused by another process, or none", () => {
    const ref = processRef(process.pid);
    expect(ref).toBeDefined();
    expect(isAlive({ ...(ref as NonNullable<typeof ref>), startTicks: (ref?.startTicks ?? 0) + 1 })).toBe(false);
    expect(isAlive(undefined)).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { hostUid, ROOTLESS_UID_ENV } from "../../../src/sys/host-uid.js";
import { runRoot } from "../../../src/sys/run-root.js";
import { resolveStoreRoot } from "../../../src/store/root.js";
import { subordinateRange } from "../../../src/sys/userns.js";

describe("subordinate ids", () => {
  const text = "alice:100000:65536\n1001:165536:65536\nbob:x:1\n";
  it("finds a user's range by name or by uid, as newuidmap does", () => {
    expect(subordinateRange(text, "alice", 1000)).toEqual({ start: 100000, count: 65536 });
    expect(subordinateRange(text, "carol", 1001)).toEqual({ start: 165536, count: 65536 });
  });
  it("has none for a user without a (valid) line", () => {
    expect(subordinateRange(text, "bob", 1002)).toBeUndefined();
    expect(subordinateRange("", "alice", 1000)).toBeUndefined();
  });
});

describe.runIf(process.getuid?.() === 0)("inside berth's user namespace (uid 0 there, the user on the host)", () => {
  const inside = { [ROOTLESS_UID_ENV]: "1001", XDG_RUNTIME_DIR: "/run/user/1001", HOME: "/home/u" };
  it("acts for the user: rootless paths, not root's", () => {
    expect(hostUid(inside)).toBe(1001);
    expect(runRoot(inside)).toBe("/run/user/1001/berth");
    expect(resolveStoreRoot(undefined, inside)).toBe("/home/u/.local/share/berth");
  });
  it("is root without the marker", () => {
    expect(hostUid({})).toBe(0);
    expect(runRoot({})).toBe("/run/berth");
    expect(resolveStoreRoot(undefined, {})).toBe("/var/lib/berth");
  });
});

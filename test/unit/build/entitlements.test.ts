import { describe, expect, it } from "vitest";
import { entitlementMessage, missingEntitlement, parseEntitlements, runSecurity } from "../../../src/builder/entitlements.js";
import { parseInstructions, type RunInstruction } from "../../../src/instructions/index.js";

function runNode(line: string): RunInstruction {
  const ins = parseInstructions(`FROM busybox\n${line}\n`).instructions[1];
  if (ins?.kind !== "run") throw new Error("no RUN");
  return ins;
}

describe("BuildKit's entitlements", () => {
  it("--allow takes comma-separated lists and repeats, and names an unknown value", () => {
    expect(parseEntitlements(["network.host,security.insecure", "network.host"])).toEqual(["network.host", "security.insecure"]);
    expect(parseEntitlements([])).toEqual([]);
    expect(() => parseEntitlements(["security.insecure,device"])).toThrow(/invalid entitlement: "device"/);
  });

  it("RUN --security=insecure needs security.insecure, RUN --network=host needs network.host", () => {
    expect(missingEntitlement(runNode("RUN --security=insecure true"), [])).toBe("security.insecure");
    expect(missingEntitlement(runNode("RUN --security=insecure true"), ["security.insecure"])).toBeUndefined();
    expect(missingEntitlement(runNode("RUN --security=sandbox true"), [])).toBeUndefined();
    expect(missingEntitlement(runNode("RUN --network=host true"), [])).toBe("network.host");
    expect(missingEntitlement(runNode("RUN --network=host true"), ["network.host"])).toBeUndefined();
    expect(missingEntitlement(runNode("RUN --network=none true"), [])).toBeUndefined();
    expect(missingEntitlement(runNode("RUN true"), [])).toBeUndefined();
    // a mode held in a variable is checked once expanded
    expect(missingEntitlement(runNode("RUN --security=$MODE true"), [])).toBeUndefined();
    expect(missingEntitlement(runNode("RUN --security=$MODE true"), [], "insecure")).toBe("security.insecure");
    expect(entitlementMessage("security.insecure")).toMatch(/^security\.insecure is not allowed/);
  });

  it("the RUN's security mode: sandbox by default, expanded, anything else refused", () => {
    expect(runSecurity(runNode("RUN true"))).toBe("sandbox");
    expect(runSecurity(runNode("RUN --security=insecure true"))).toBe("insecure");
    expect(runSecurity(runNode("RUN --security=$MODE true"), (w) => w.replace("$MODE", "insecure"))).toBe("insecure");
    expect(() => runSecurity(runNode("RUN --security=$MODE true"), (w) => w.replace("$MODE", "wide-open"))).toThrow(/security mode "wide-open" not supported/);
  });
});

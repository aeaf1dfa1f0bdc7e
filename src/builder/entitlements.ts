import type { Instruction, RunInstruction } from "../instructions/index.js";

/**
 * BuildKit's entitlements: what a Dockerfile may ask for only when the one who builds allows
 * it (`berth build --allow …`, as `docker buildx build --allow`).
 */
export type Entitlement = "network.host" | "security.insecure";

export const ENTITLEMENTS: readonly Entitlement[] = ["network.host", "security.insecure"];

/** `--allow` values (repeatable, each a comma-separated list) → entitlements; an unknown one is an error naming it. */
export function parseEntitlements(values: readonly string[]): Entitlement[] {
  const out = new Set<Entitlement>();
  for (const v of values.flatMap((x) => x.split(","))) {
    const name = v.trim();
    if (name === "") continue;
    if (!(ENTITLEMENTS as readonly string[]).includes(name)) {
      throw new Error(`invalid entitlement: ${JSON.stringify(name)} (want ${ENTITLEMENTS.join(" or ")})`);
    }
    out.add(name as Entitlement);
  }
  return [...out];
}

/** A RUN's `--security` mode (expanded by the caller when it holds variables): sandbox when absent. */
export function runSecurity(ins: RunInstruction, expand: (w: string) => string = (w) => w): "sandbox" | "insecure" {
  const v = ins.security;
  if (v === undefined) return "sandbox";
  const mode = expand(v);
  if (mode === "sandbox" || mode === "insecure") return mode;
  throw new Error(`security mode "${mode}" not supported (use sandbox or insecure)`);
}

/**
 * The first entitlement this RUN needs and the build was not given (BuildKit's
 * ValidateEntitlements: an exec op with network host, or with security insecure), or
 * undefined. `security` is the RUN's mode when the caller knows it expanded.
 */
export function missingEntitlement(ins: Instruction, allowed: readonly Entitlement[], security?: "sandbox" | "insecure"): Entitlement | undefined {
  if (ins.kind !== "run") return undefined;
  if (ins.network === "host" && !allowed.includes("network.host")) return "network.host";
  const mode = security ?? (ins.security === "insecure" ? "insecure" : "sandbox");
  if (mode === "insecure" && !allowed.includes("security.insecure")) return "security.insecure";
  return undefined;
}

/** BuildKit's words ("… is not allowed"), and what to do about it. */
export function entitlementMessage(entitlement: Entitlement): string {
  const flag = entitlement === "network.host" ? "RUN --network=host" : "RUN --security=insecure";
  return `${entitlement} is not allowed: ${flag} needs \`berth build --allow ${entitlement}\``;
}

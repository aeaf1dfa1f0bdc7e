import { Command } from "commander";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { registerBuildCommands } from "../../../src/cli/build.js";
import { registerContainerCommands } from "../../../src/cli/container/index.js";
import type { Registrar } from "../../../src/cli/program.js";
import { BUILD_COMMANDS, BUNDLE_ROUTES, CONTAINER_COMMANDS } from "../../../src/cli/routes.js";

/** The top-level commands a group registers, aliases included. */
function registered(register: Registrar): string[] {
  const program = new Command("berth");
  register(program);
  return program.commands.flatMap((c) => [c.name(), ...c.aliases()]).sort();
}

describe("bundle routes (src/cli/routes.ts)", () => {
  it("name exactly the commands each bundle's group registers: a command missing there would start from a bundle without it", () => {
    expect([...CONTAINER_COMMANDS].sort()).toEqual(registered(registerContainerCommands));
    expect([...BUILD_COMMANDS].sort()).toEqual(registered(registerBuildCommands));
  });

  it("routes.json, which bin/berth reads, maps every routed command to its bundle (npm run build writes it)", () => {
    const routes = JSON.parse(readFileSync(join(__dirname, "../../../dist/bundle/routes.json"), "utf8")) as Record<string, string>;
    const expected = Object.fromEntries(Object.entries(BUNDLE_ROUTES).flatMap(([bundle, commands]) => commands.map((c) => [c, bundle])));
    expect(routes).toEqual(expected);
    expect(routes.run).toBe("container");
    expect(routes.build).toBe("build");
  });
});

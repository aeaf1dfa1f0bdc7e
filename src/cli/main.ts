import { registerParseCommands } from "./parse.js";
import { registerContainerCommands } from "./container/index.js";
import { registerBuildCommands } from "./build.js";
import { registerImageCommands } from "./image/index.js";
import { registerSystemCommands } from "./system.js";
import { registerRegistryCommands } from "./registry.js";
import { registerBuilderCommands } from "./builder-prune.js";
import { registerNetworkCommands } from "./networks.js";
import { registerAboutCommands } from "./about.js";
import { registerEventsCommands } from "./events.js";
import { type CommandGroup, runCli } from "./program.js";
import { BUILD_COMMANDS, CONTAINER_COMMANDS } from "./routes.js";

/**
 * Every command group, in the order `berth --help` lists them, with the top-level commands each
 * registers: given a command name, only its group is registered (commander builds every command
 * with all its options); a name listed nowhere registers all groups.
 */
const GROUPS: readonly CommandGroup[] = [
  { register: registerParseCommands, commands: ["parse"] },
  { register: registerContainerCommands, commands: CONTAINER_COMMANDS },
  { register: registerBuildCommands, commands: BUILD_COMMANDS },
  { register: registerImageCommands, commands: ["import", "load", "save", "images", "history", "tag", "rmi", "inspect", "image"] },
  { register: registerSystemCommands, commands: ["system"] },
  { register: registerRegistryCommands, commands: ["login", "logout", "pull", "push", "search", "manifest"] },
  { register: registerBuilderCommands, commands: ["builder"] },
  { register: registerNetworkCommands, commands: ["network"] },
  { register: registerAboutCommands, commands: ["version", "info"] },
  { register: registerEventsCommands, commands: ["events"] },
];

/**
 * The berth CLI. Each command group lives in its own file and registers itself here; a
 * group's heavy modules are imported inside its action handlers, so that `berth --help` or a
 * no-op build pays only for what it uses.
 */
export async function main(argv: string[]): Promise<void> {
  await runCli(GROUPS, argv);
}

export { exitNow } from "../sys/exit.js";

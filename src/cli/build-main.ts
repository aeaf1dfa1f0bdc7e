import { registerBuildCommands } from "./build.js";
import { runCli } from "./program.js";
import { BUILD_COMMANDS } from "./routes.js";

/** The build bundle's entry (./routes.ts): `berth build` alone. */
export async function main(argv: string[]): Promise<void> {
  await runCli([{ register: registerBuildCommands, commands: BUILD_COMMANDS }], argv);
}

export { exitNow } from "../sys/exit.js";

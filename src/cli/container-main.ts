import { registerContainerCommands } from "./container/index.js";
import { runCli } from "./program.js";
import { CONTAINER_COMMANDS } from "./routes.js";

/** The container bundle's entry (./routes.ts): the container commands alone. */
export async function main(argv: string[]): Promise<void> {
  await runCli([{ register: registerContainerCommands, commands: CONTAINER_COMMANDS }], argv);
}

export { exitNow } from "../sys/exit.js";

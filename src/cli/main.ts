import { Command, CommanderError } from "commander";
import { BerthError } from "../errors.js";
import { registerParseCommands } from "./parse.js";
import { registerContainerCommands } from "./containers.js";
import { registerBuildCommands } from "./build.js";
import { registerImageCommands } from "./images.js";
import { registerSystemCommands } from "./system.js";
import { registerRegistryCommands } from "./registry.js";

/**
 * The berth CLI. Each command group lives in its own file and registers itself here; a
 * group's heavy modules are imported inside its action handlers, so that `berth --help` or a
 * no-op build pays only for what it uses.
 */
export function createProgram(): Command {
  const program = new Command("berth")
    .description("A daemonless Dockerfile build toolchain and container runtime")
    .version("0.1.0")
    .option("--root <dir>", "store directory (default: $BERTH_ROOT or /var/lib/berth)")
    .showHelpAfterError()
    .exitOverride();
  registerParseCommands(program);
  registerContainerCommands(program);
  registerBuildCommands(program);
  registerImageCommands(program);
  registerSystemCommands(program);
  registerRegistryCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = createProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = exitCodeFor(err);
  }
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // help and version exit 0; usage errors (already printed by commander) exit 125 like Docker
    return err.exitCode === 0 ? 0 : 125;
  }
  if (err instanceof BerthError) {
    process.stderr.write(`${err.render({ color: process.stderr.isTTY === true })}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`berth: internal error: ${message}\n`);
  return 1;
}

import type { Command } from "commander";
import { registerAttachExecCommands } from "./attach-exec.js";
import { registerFilesystemCommands } from "./filesystem.js";
import { registerInspectPortCommands } from "./inspect-port.js";
import { registerLifecycleCommands } from "./lifecycle.js";
import { registerLogsCommand } from "./logs.js";
import { registerPsCommand } from "./ps.js";
import { registerRemoveCommands } from "./remove.js";
import { registerRunCreateCommands } from "./run-create.js";
import { registerTopStatsCommands } from "./top-stats.js";
import { registerVolumeCommands } from "./volume.js";

/**
 * Container commands and volumes, a file per family (run-create, lifecycle, attach-exec, logs,
 * ps, inspect-port, top-stats, filesystem, remove, volume). Every handler imports the runtime
 * lazily: `berth run --rm IMAGE true` pays only for the modules it uses.
 */
export function registerContainerCommands(program: Command): void {
  program.enablePositionalOptions();
  registerRunCreateCommands(program);
  registerLifecycleCommands(program);
  registerAttachExecCommands(program);
  registerLogsCommand(program);
  registerPsCommand(program);
  registerTopStatsCommands(program);
  registerFilesystemCommands(program);
  // the group's subcommands come from their families; it is listed after the top-level commands
  const container = program
    .createCommand("container")
    .copyInheritedSettings(program)
    .description("Manage containers")
    .addHelpText("after", "\nAlso, as Docker's: container ls|ps|list, run, create, start, stop, restart, kill, wait, rm, logs, exec,\ndiff, commit, cp, rename, port, pause, unpause, top, stats, update: the top-level command of that name\n(container ls is berth ps).");
  registerRemoveCommands(program, container);
  registerInspectPortCommands(program, container);
  program.addCommand(container);
  registerVolumeCommands(program);
}

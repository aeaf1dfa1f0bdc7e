import type { ContainerConfig } from "../image/types.js";
import { RuntimeError } from "./errors.js";

/**
 * The argv a container starts with, by Docker's rules: the entrypoint (image's, or
 * --entrypoint) followed by the command (CMD... on the command line, else the image's Cmd).
 * Docker quirk, matched: `--entrypoint` also discards the image's Cmd, so only command-line
 * arguments follow an overridden entrypoint; `--entrypoint ""` clears the entrypoint.
 */
export function containerArgs(
  config: ContainerConfig | undefined,
  overrides: { entrypoint?: string; cmd?: string[] } = {},
): string[] {
  let entrypoint = config?.Entrypoint ?? [];
  let cmd = config?.Cmd ?? [];
  if (overrides.entrypoint !== undefined) {
    entrypoint = overrides.entrypoint === "" ? [] : [overrides.entrypoint];
    cmd = [];
  }
  if (overrides.cmd !== undefined && overrides.cmd.length > 0) cmd = overrides.cmd;
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new RuntimeError("no command specified: the image has no Entrypoint or Cmd, give one after the image name");
  return args;
}

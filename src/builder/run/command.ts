import { expandMount, MountSpecError, type Mount, type RunInstruction } from "../../instructions/index.js";
import type { RunNetwork } from "../sandbox.js";

/** What a RUN runs and with which mounts and network: pure, needed for the cache key. */

/** BuildKit's check for a RUN whose whole command is one heredoc (`RUN <<EOF`). */
const LONE_HEREDOC = /^\s*\d*<<-?\s*["']?[A-Za-z_][A-Za-z0-9_]*["']?\s*$/;

export interface RunCommand {
  /** The process arguments (shell form already wrapped). */
  args: string[];
  /** A heredoc script to mount and run (`RUN <<EOF` starting with `#!`). */
  script?: { name: string; content: string };
}

/**
 * The command a RUN runs, heredocs included (dispatchRun's rules); `shell` wraps a shell-form
 * command in the stage's SHELL.
 */
export function runCommand(ins: RunInstruction, shell: (command: string) => string[]): RunCommand {
  const command = ins.command;
  if (command.form === "exec") return { args: [...command.args] };
  let text = command.command;
  if (ins.heredocs.length > 0) {
    const first = ins.heredocs[0]!;
    if (LONE_HEREDOC.test(text)) {
      const data = first.content;
      if (data.startsWith("#!")) return { args: [`/dev/pipes/${first.name}`], script: { name: first.name, content: data } };
      text = data;
    } else {
      // the shell reads the heredocs (and strips the tabs of `<<-` itself)
      for (const h of ins.heredocs) text += "\n" + h.raw + h.name;
    }
  }
  return { args: shell(text) };
}

/**
 * `--mount` values after expansion with the stage's variables (instructions/mount.ts); a bad
 * one names itself.
 */
export function runMounts(ins: RunInstruction, expand: (w: string) => string): Mount[] {
  return ins.mounts.map((m) => expandMount(m, expand));
}

/** A RUN's network: its --network flag, else the build's (`dflt`, from berth build --network). */
export function runNetwork(ins: RunInstruction, dflt: RunNetwork): RunNetwork {
  const v = ins.network;
  if (v === undefined || v === "default") return dflt;
  if (v === "none" || v === "host") return v;
  throw new MountSpecError(`unsupported network mode ${JSON.stringify(v)} (want default, none or host)`);
}

import type { InstructionNode } from "../parser/index.js";
import { MountSpecError, parseMountSpec, type Mount } from "../instructions/index.js";
import { flagValue } from "../plan/index.js";
import type { RunNetwork } from "./sandbox.js";

/** What a RUN runs and with which mounts and network: pure, needed for the cache key. */

/** BuildKit's check for a RUN whose whole command is one heredoc (`RUN <<EOF`). */
const LONE_HEREDOC = /^\s*\d*<<-?\s*["']?[A-Za-z_][A-Za-z0-9_]*["']?\s*$/;

export interface RunCommand {
  /** The process arguments (shell form already wrapped). */
  args: string[];
  /** A heredoc script to mount and run (`RUN <<EOF` starting with `#!`). */
  script?: { name: string; content: string };
}

function chompTabs(s: string): string {
  return s.replace(/^\t+/gm, "");
}

/** The command a RUN runs, heredocs included (dispatchRun's rules). */
export function runCommand(node: InstructionNode, withShell: (args: string[]) => string[]): RunCommand {
  let args = node.args.map((a) => a.value);
  let script: RunCommand["script"];
  if (node.heredocs.length > 0 && !node.json) {
    const first = node.heredocs[0]!;
    if (args.length === 1 && LONE_HEREDOC.test(args[0]!)) {
      const data = first.chomp ? chompTabs(first.content) : first.content;
      if (data.startsWith("#!")) {
        script = { name: first.name, content: data };
        return { args: [`/dev/pipes/${first.name}`], script };
      }
      args = [data];
    } else {
      let b = args[0] ?? "";
      for (const h of node.heredocs) b += "\n" + h.content + h.name;
      args = [b];
    }
  }
  return { args: node.json ? args : withShell(args) };
}

/**
 * `--mount` values after expansion, parsed by the same parser that validated them unexpanded
 * (src/instructions); a bad one names itself.
 */
export function runMounts(node: InstructionNode, expand: (w: string) => string): Mount[] {
  return node.flags
    .filter((f) => f.name === "mount")
    .map((f) => {
      const raw = f.value ?? "";
      try {
        return parseMountSpec(expand(raw), f.range);
      } catch (err) {
        if (err instanceof MountSpecError) throw new MountSpecError(`--mount=${raw}: ${err.message}`);
        throw err;
      }
    });
}

/** A RUN's network: its --network flag, else the build's (`dflt`, from berth build --network). */
export function runNetwork(node: InstructionNode, dflt: RunNetwork): RunNetwork {
  const v = flagValue(node, "network");
  if (v === undefined || v === "default") return dflt;
  if (v === "none" || v === "host") return v;
  throw new MountSpecError(`unsupported network mode ${JSON.stringify(v)} (want default, none or host)`);
}


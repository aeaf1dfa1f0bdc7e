import { Command, CommanderError } from "commander";
import { BerthError } from "../errors.js";
import { watchOutput } from "./output.js";

/** Registers a family of commands on the program. */
export type Registrar = (program: Command) => void;

/** A family of commands: its registrar and the top-level command names it registers. */
export interface CommandGroup {
  readonly register: Registrar;
  readonly commands: readonly string[];
}

/** The command argv names (the first operand; `--root` is the only global option with a value). */
function commandName(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--root") i++;
    else if (!a.startsWith("-")) return a;
  }
  return undefined;
}

function baseProgram(): Command {
  return (
    new Command("berth")
      .description("A daemonless Dockerfile build toolchain and container runtime")
      .version("0.1.0")
      .option("--root <dir>", "store directory (default: $BERTH_ROOT or /var/lib/berth)")
      .showHelpAfterError()
      .exitOverride()
      // options after a command belong to it (`berth run IMAGE ls -l`), whichever groups are registered
      .enablePositionalOptions()
  );
}

/**
 * The program of `groups` for the command `name`: only its group is registered; without one
 * (or for help and unknown commands), all groups are.
 */
function createProgram(groups: readonly CommandGroup[], name: string | undefined): Command {
  const group = name === undefined ? undefined : groups.find((g) => g.commands.includes(name));
  if (group !== undefined) {
    const program = baseProgram();
    group.register(program);
    if (program.commands.some((c) => c.name() === name || c.aliases().includes(name as string))) return program;
  }
  const program = baseProgram();
  for (const g of groups) g.register(program);
  return program;
}

/**
 * Docker's management forms (`docker container ls`, `docker image rm` …) and the top-level
 * command each stands for; `container inspect|prune` and `image inspect|prune` are commands of
 * their own.
 */
const MANAGEMENT: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  container: {
    ...Object.fromEntries(["run", "create", "start", "stop", "restart", "kill", "wait", "rm", "logs", "exec", "diff", "commit", "cp", "rename", "port", "pause", "unpause", "top", "stats", "update", "attach", "export"].map((c) => [c, c])),
    ls: "ps",
    list: "ps",
    ps: "ps",
    remove: "rm",
  },
  image: {
    ...Object.fromEntries(["build", "pull", "push", "tag", "history", "save", "load", "import"].map((c) => [c, c])),
    ls: "images",
    list: "images",
    rm: "rmi",
    remove: "rmi",
  },
  system: { events: "events" },
};

/** `berth container ls -a` → `berth ps -a`: the argv with a management form replaced by its command. */
export function rewriteManagement(argv: readonly string[]): string[] {
  const out = [...argv];
  for (let i = 2; i < out.length; i++) {
    const a = out[i] as string;
    if (a === "--root") {
      i++;
      continue;
    }
    if (a.startsWith("-")) continue;
    const target = MANAGEMENT[a]?.[out[i + 1] as string];
    if (target !== undefined) out.splice(i, 2, target);
    break;
  }
  return out;
}

/** Docker commands berth does not have (yet): named as such, not "did you mean parse?". */
const DOCKER_ONLY = new Set(["checkpoint", "compose", "config", "context", "node", "plugin", "secret", "service", "stack", "swarm", "trust", "buildx", "scout", "init"]);

/** Run the CLI made of `groups` on the process's argv. */
export async function runCli(groups: readonly CommandGroup[], rawArgv: string[]): Promise<void> {
  watchOutput();
  const argv = rewriteManagement(rawArgv);
  const name = commandName(argv.slice(2));
  if (name !== undefined && DOCKER_ONLY.has(name)) {
    process.stderr.write(`berth: '${name}' is not a berth command: berth does not have Docker's \`docker ${name}\` (yet).\nSee 'berth --help'.\n`);
    process.exitCode = 1;
    return;
  }
  const program = createProgram(groups, name);
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

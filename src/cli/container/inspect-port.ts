import type { Command } from "commander";
import type { RuntimeContext } from "../../runtime/container/context.js";
import { BerthError, UsageError } from "../../errors.js";
import { printInspect, registerInspectTarget } from "../inspect.js";
import { context, contextForRoot } from "./context.js";

/** What a container's record says: `container inspect` (and `berth inspect`'s container side), `port`. */

// `berth inspect NAME`: containers are tried before images, as Docker does
registerInspectTarget({
  type: "container",
  order: 10,
  async find(name, root) {
    const ctx = await contextForRoot(root);
    const { findContainer } = await import("../../runtime/container/lookup.js");
    const { inspectContainer } = await import("../../runtime/container/inspect.js");
    const { RuntimeError } = await import("../../runtime/errors.js");
    try {
      const { dir, record } = await findContainer(ctx, name);
      return inspectContainer(record, dir);
    } catch (err) {
      if (err instanceof RuntimeError && /^No such container/.test(err.message)) return undefined;
      throw err;
    }
  },
});

export function registerInspectPortCommands(program: Command, container: Command): void {
  program
    .command("port")
    .description("List port mappings or a specific mapping for the container")
    .argument("<container>")
    .argument("[private-port]", "PRIVATE_PORT[/PROTO]")
    .action(async (ref: string, privatePort: string | undefined, _flags: object, cmd: Command) => {
      const ctx = await context(cmd);
      const { findContainer } = await import("../../runtime/container/lookup.js");
      const { withLiveState } = await import("../../runtime/container/record.js");
      const { record } = await findContainer(ctx, ref);
      // as Docker's: the published ports of a running container, by container port
      const ports = withLiveState(record).state === "running" ? [...record.hostConfig.ports].sort((a, b) => a.containerPort - b.containerPort) : [];
      const hostSide = (p: { hostIp: string; hostPort: number }) => `${p.hostIp.includes(":") ? `[${p.hostIp}]` : p.hostIp}:${p.hostPort}`;
      if (privatePort === undefined) {
        process.stdout.write(ports.map((p) => `${p.containerPort}/${p.protocol} -> ${hostSide(p)}\n`).join(""));
        return;
      }
      const m = /^([0-9]+)(?:\/(tcp|udp|sctp))?$/.exec(privatePort);
      if (m === null) throw new UsageError(`Error: invalid port (${privatePort}): want PRIVATE_PORT[/PROTO]`);
      const proto = m[2] ?? "tcp";
      const match = ports.filter((p) => p.containerPort === Number(m[1]) && p.protocol === proto);
      if (match.length === 0) throw new BerthError(`No public port '${m[1]}/${proto}' published for ${record.name}`, { exitCode: 1 });
      process.stdout.write(match.map((p) => `${hostSide(p)}\n`).join(""));
    });
  container
    .command("inspect")
    .description("Display detailed information on one or more containers")
    .argument("<containers...>")
    .option("-f, --format <format>", "format the output using a Go template, or json")
    .action(async (refs: string[], flags: { format?: string }, cmd: Command) => {
      const ctx = await context(cmd);
      printInspect(await inspectContainers(ctx, refs), flags.format);
    });
}

/** `berth inspect` for containers: what the image inspect falls back to when no image matches. */
export async function inspectContainers(ctx: RuntimeContext, refs: string[]): Promise<Record<string, unknown>[]> {
  const { findContainer } = await import("../../runtime/container/lookup.js");
  const { inspectContainer } = await import("../../runtime/container/inspect.js");
  const out: Record<string, unknown>[] = [];
  for (const ref of refs) {
    const { dir, record } = await findContainer(ctx, ref);
    out.push(inspectContainer(record, dir));
  }
  return out;
}

import type { Platform } from "../../image/types.js";
import type { Command } from "commander";
import type { RuntimeContext } from "../../runtime/container/context.js";
import { UsageError } from "../../errors.js";
import { collect } from "../flags.js";
import { context } from "./context.js";
import { detachKeys, launchSession, requireTerminal, runSession } from "./session.js";

/** `run` and `create`: their flags, the image pulled when missing, the container created (and started). */

interface RunFlags {
  pull?: string;
  platform?: string;
  name?: string;
  rm?: boolean;
  restart?: string;
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  volume?: string[];
  tmpfs?: string[];
  mount?: string[];
  publish?: string[];
  publishAll?: boolean;
  expose?: string[];
  network?: string;
  networkAlias?: string[];
  addHost?: string[];
  dns?: string[];
  dnsSearch?: string[];
  readOnly?: boolean;
  init?: boolean;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  securityOpt?: string[];
  cgroupns?: string;
  memory?: string;
  cpus?: string;
  pidsLimit?: string;
  label?: string[];
  stopSignal?: string;
  detachKeys?: string;
}

function addCreateFlags(cmd: Command): Command {
  return cmd
    .option("--pull <policy>", "pull the image before running: missing (default), always or never")
    .option("--platform <os/arch[/variant]>", "the image's platform (of a multi-platform image, or pulled); another than this machine's runs through QEMU")
    .option("--name <name>", "assign a name to the container")
    .option("--rm", "remove the container when it exits")
    .option("--restart <policy>", "restart policy when the container exits: no, always, on-failure[:max-retries] or unless-stopped")
    .option("-i, --interactive", "keep STDIN open")
    .option("-t, --tty", "allocate a pseudo-TTY")
    .option("-e, --env <KEY=value>", "set an environment variable (repeatable)", collect)
    .option("--env-file <file>", "read environment variables from a file (repeatable)", collect)
    .option("-w, --workdir <dir>", "working directory inside the container")
    .option("-u, --user <user[:group]>", "user name or UID, optionally with group")
    .option("--entrypoint <cmd>", "override the image's ENTRYPOINT")
    .option("-h, --hostname <name>", "container host name")
    .option("-v, --volume <spec>", "bind mount host:ctr[:ro], named volume name:ctr[:ro], or anonymous ctr (repeatable)", collect)
    .option("--tmpfs <path[:opts]>", "mount a tmpfs (repeatable)", collect)
    .option("--mount <spec>", "attach a mount: type=bind|volume|tmpfs,source=…,target=…[,readonly][,tmpfs-size=…] (repeatable)", collect)
    .option("-p, --publish <[ip:]hostPort:ctrPort[/tcp]>", "publish a container port on the host: on 0.0.0.0 and [::] unless an ip is given (repeatable)", collect)
    .option("-P, --publish-all", "publish all exposed ports to random host ports")
    .option("--expose <port[-end][/proto]>", "expose a port or a range of ports (repeatable)", collect)
    .option("--network <network>", "bridge (own namespace, outbound access, the default), a network from `berth network create`, none (loopback only) or host", "bridge")
    .option("--network-alias <name>", "another name for the container on a user network (repeatable)", collect)
    .option("--add-host <host:ip>", "add a line to the container's /etc/hosts (repeatable)", collect)
    .option("--dns <ip>", "nameserver for the container's /etc/resolv.conf, instead of the host's (repeatable)", collect)
    .option("--dns-search <domain>", "search domain for the container's /etc/resolv.conf (repeatable)", collect)
    .option("--read-only", "mount the container's root file system read-only")
    .option("--init", "run an init (tini) as PID 1 that forwards signals and reaps zombies")
    .option("--privileged", "give the container all capabilities and devices, and no seccomp filter")
    .option("--cap-add <cap>", "add a Linux capability (repeatable)", collect)
    .option("--cap-drop <cap>", "drop a Linux capability (repeatable)", collect)
    .option(
      "--security-opt <opt>",
      "no-new-privileges[=true|false], seccomp=unconfined, or seccomp=PROFILE.json (a profile in Docker's format; default: Docker's) (repeatable)",
      collect,
    )
    .option("--cgroupns <mode>", "cgroup namespace: private or host (default: private on cgroup v2 hosts, else host)")
    .option("-m, --memory <bytes>", "memory limit (e.g. 64m, 1g)")
    .option("--cpus <n>", "number of CPUs (e.g. 0.5)")
    .option("--pids-limit <n>", "maximum number of processes")
    .option("-l, --label <key=value>", "set a label (repeatable)", collect)
    .option("--stop-signal <signal>", "signal that stops the container")
    .argument("<image>", "image reference or ID")
    .argument("[command...]", "command and arguments")
    .passThroughOptions();
}

/**
 * Docker's `run`/`create` exit 125 for every error of their own (unknown image, bad flag,
 * store trouble); 126 and 127 stay for a command that cannot run.
 */
async function as125<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const { BerthError } = await import("../../errors.js");
    if (err instanceof BerthError && ![125, 126, 127].includes(err.exitCode)) {
      const { RuntimeError } = await import("../../runtime/errors.js");
      throw new RuntimeError(err.message, { cause: err });
    }
    throw err;
  }
}

/**
 * `run`/`create --pull`: an image missing from the store is pulled first (Docker's "Unable to
 * find image … locally", then the pull's lines, on stderr); `always` pulls every time, `never`
 * fails on a missing one as Docker does.
 */
async function ensureImage(ctx: RuntimeContext, image: string, policy: string, platform: Platform | undefined): Promise<void> {
  if (policy !== "missing" && policy !== "always" && policy !== "never") {
    throw new UsageError(`invalid pull option: '${policy}': must be one of "always", "missing" or "never"`);
  }
  if (policy === "never") return; // createContainer names a missing image
  const present = await ctx.store.resolveImage(image, platform === undefined ? {} : { platform }).then(
    () => true,
    (err: unknown) => {
      if ((err as Error).name !== "NoSuchImageError") throw err;
      return false;
    },
  );
  if (present && policy === "missing") return;
  const { formatRemoteReference, parseRemoteReference } = await import("../../registry/index.js");
  const { pullForRun } = await import("../registry.js");
  if (!present) process.stderr.write(`Unable to find image '${formatRemoteReference(parseRemoteReference(image))}' locally\n`);
  // the CLI's runtime context holds the store itself (the runtime sees it through a narrow port)
  await pullForRun(ctx.store as unknown as import("../../store/store.js").Store, image, platform);
}

async function createFromFlags(ctx: RuntimeContext, image: string, command: string[], flags: RunFlags) {
  return as125(() => createFromFlagsUnchecked(ctx, image, command, flags));
}

async function createFromFlagsUnchecked(ctx: RuntimeContext, image: string, command: string[], flags: RunFlags) {
  const { createContainer } = await import("../../runtime/container/create.js");
  const { parseBytes, parseCpus, parseInteger } = await import("../../runtime/container/parse-options.js");
  const env: string[] = [];
  if (flags.envFile !== undefined) {
    const { readFile } = await import("node:fs/promises");
    const { parseEnvFile } = await import("../../runtime/env.js");
    const { RuntimeError } = await import("../../runtime/errors.js");
    for (const file of flags.envFile) {
      const text = await readFile(file, "utf8").catch(() => {
        throw new RuntimeError(`open ${file}: no such file or directory (--env-file)`);
      });
      try {
        env.push(...parseEnvFile(text, file));
      } catch (err) {
        throw new RuntimeError(err instanceof Error ? err.message : String(err));
      }
    }
  }
  env.push(...(flags.env ?? []));
  const { parseLabels } = await import("../format.js");
  const labels = parseLabels(flags.label);
  const platform = flags.platform !== undefined ? (await import("../../image/platform.js")).parsePlatform(flags.platform) : undefined;
  await ensureImage(ctx, image, flags.pull ?? "missing", platform);
  return createContainer(ctx, {
    image,
    ...(platform !== undefined ? { platform } : {}),
    ...(command.length > 0 ? { cmd: command } : {}),
    ...(flags.name !== undefined ? { name: flags.name } : {}),
    ...(flags.entrypoint !== undefined ? { entrypoint: flags.entrypoint } : {}),
    env,
    hostEnv: process.env,
    ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
    ...(flags.user !== undefined ? { user: flags.user } : {}),
    ...(flags.hostname !== undefined ? { hostname: flags.hostname } : {}),
    tty: flags.tty === true,
    interactive: flags.interactive === true,
    volumes: flags.volume ?? [],
    tmpfs: flags.tmpfs ?? [],
    mounts: flags.mount ?? [],
    ports: flags.publish ?? [],
    publishAll: flags.publishAll === true,
    expose: flags.expose ?? [],
    network: flags.network ?? "bridge",
    networkAliases: flags.networkAlias ?? [],
    addHosts: flags.addHost ?? [],
    dns: flags.dns ?? [],
    dnsSearch: flags.dnsSearch ?? [],
    readOnly: flags.readOnly === true,
    init: flags.init === true,
    privileged: flags.privileged === true,
    capAdd: flags.capAdd ?? [],
    capDrop: flags.capDrop ?? [],
    securityOpt: flags.securityOpt ?? [],
    ...(flags.cgroupns !== undefined ? { cgroupns: flags.cgroupns as "private" | "host" } : {}),
    resources: {
      ...(flags.memory !== undefined ? { memory: parseBytes(flags.memory) } : {}),
      ...(flags.cpus !== undefined ? { cpus: parseCpus(flags.cpus) } : {}),
      ...(flags.pidsLimit !== undefined ? { pidsLimit: parseInteger(flags.pidsLimit, "--pids-limit") } : {}),
    },
    autoRemove: flags.rm === true,
    ...(flags.restart !== undefined ? { restart: flags.restart } : {}),
    labels,
    ...(flags.stopSignal !== undefined ? { stopSignal: flags.stopSignal } : {}),
  });
}

export function registerRunCreateCommands(program: Command): void {
  addCreateFlags(program.command("run").description("Create and run a new container from an image"))
    .option("-d, --detach", "run in the background and print the container ID")
    .option("--detach-keys <keys>", "override the key sequence for detaching a container (default ctrl-p,ctrl-q)")
    .action(async (image: string, command: string[], flags: RunFlags, cmd: Command) => {
      const { trace } = await import("../../sys/trace.js");
      trace("cli: run action");
      const keys = flags.tty === true && flags.detach !== true ? await detachKeys(flags.detachKeys) : undefined;
      if (keys !== undefined) await requireTerminal();
      const ctx = await context(cmd);
      trace("cli: store open");
      // a supervisor starts now, and waits for the container being created
      const { launchSupervisor } = await import("../../runtime/container/lifecycle.js");
      const publishes = (flags.publish ?? []).length > 0 || flags.publishAll === true;
      const launch = flags.detach === true ? launchSupervisor(ctx) : keys !== undefined && publishes ? await launchSession(ctx) : undefined;
      let record;
      try {
        record = await createFromFlags(ctx, image, command, flags);
      } catch (err) {
        launch?.abort();
        throw err;
      }
      trace("cli: created");
      if (flags.detach === true && launch !== undefined) {
        await launch.start(record.id);
        process.stdout.write(`${record.id}\n`);
        return;
      }
      if (keys !== undefined) {
        process.exitCode = await runSession(ctx, record.id, launch, { stdin: flags.interactive === true, detachKeys: keys });
        return;
      }
      const { startAttached } = await import("../../runtime/container/lifecycle.js");
      process.exitCode = await startAttached(ctx, record.id);
    });

  addCreateFlags(program.command("create").description("Create a new container without starting it")).action(
    async (image: string, command: string[], flags: RunFlags, cmd: Command) => {
      const ctx = await context(cmd);
      const record = await createFromFlags(ctx, image, command, flags);
      process.stdout.write(`${record.id}\n`);
    },
  );
}

import type { Platform } from "../image/types.js";
import type { Command } from "commander";
import { confirm } from "./prompt.js";
import type { RuntimeContext } from "../runtime/container/context.js";
import type { SupervisorLaunch } from "../runtime/container/lifecycle.js";
import { printInspect, registerInspectTarget } from "./inspect.js";
import { BerthError, UsageError } from "../errors.js";
import { parseBool } from "./format.js";

/**
 * Container commands (run, create, start, attach, ps, logs, exec, stop, kill, restart, pause, unpause,
 * top, stats, update, wait, rm,
 * diff, commit, cp, container prune) and volumes. Every handler imports the runtime lazily:
 * `berth run --rm IMAGE true` pays only for the modules it uses.
 */

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

async function context(cmd: Command): Promise<RuntimeContext> {
  return contextForRoot((cmd.optsWithGlobals() as { root?: string }).root);
}

async function contextForRoot(rootOption: string | undefined): Promise<RuntimeContext> {
  // store.js, not the store's index: the index also loads import/export and gc, which
  // container commands never use (start-up time of `berth run`)
  const [{ openStore }, { resolveStoreRoot }, { runtimeContext }] = await Promise.all([
    import("../store/store.js"),
    import("../store/root.js"),
    import("../runtime/container/context.js"),
  ]);
  // absolute: records keep snapshot paths, and the detached supervisor runs in /
  const { resolve } = await import("node:path");
  return runtimeContext(await openStore(resolve(resolveStoreRoot(rootOption))));
}

// `berth inspect NAME`: containers are tried before images, as Docker does
registerInspectTarget({
  type: "container",
  order: 10,
  async find(name, root) {
    const ctx = await contextForRoot(root);
    const { findContainer } = await import("../runtime/container/lookup.js");
    const { inspectContainer } = await import("../runtime/container/inspect.js");
    const { RuntimeError } = await import("../runtime/errors.js");
    try {
      const { dir, record } = await findContainer(ctx, name);
      return inspectContainer(record, dir);
    } catch (err) {
      if (err instanceof RuntimeError && /^No such container/.test(err.message)) return undefined;
      throw err;
    }
  },
});

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

/**
 * The detach keys: the flag's, else `detachKeys` in Docker's config.json, else ctrl-p,ctrl-q;
 * Docker's message (exit 1) for keys it would not take.
 */
async function detachKeys(flag: string | undefined): Promise<Buffer> {
  const [{ parseDetachKeys }, { RuntimeError }] = await Promise.all([import("../runtime/container/attach-stream.js"), import("../runtime/errors.js")]);
  let keys = flag ?? "";
  if (keys === "") {
    const [{ readFile }, { dockerConfigPath }] = await Promise.all([import("node:fs/promises"), import("../registry/credentials.js")]);
    const config = await readFile(dockerConfigPath(), "utf8").then((text) => JSON.parse(text) as { detachKeys?: unknown }, () => ({ detachKeys: undefined }));
    if (typeof config.detachKeys === "string") keys = config.detachKeys;
  }
  try {
    return parseDetachKeys(keys);
  } catch (err) {
    throw new RuntimeError((err as Error).message, { exitCode: 1 });
  }
}

/** A -t session needs a terminal: Docker's check, before anything is created. */
async function requireTerminal(): Promise<void> {
  const { RuntimeError } = await import("../runtime/errors.js");
  if (process.stdin.isTTY !== true) throw new RuntimeError("the input device is not a TTY");
}

/** The supervisor for a session of a container with published ports (runSession), started early: its start-up runs beside the CLI's create. */
async function launchSession(ctx: RuntimeContext): Promise<SupervisorLaunch> {
  const [{ launchSupervisor }, { terminalSize }] = await Promise.all([import("../runtime/container/lifecycle.js"), import("../runtime/container/attach.js")]);
  const size = terminalSize();
  return launchSupervisor(ctx, { session: size !== undefined ? { consoleSize: size } : {} });
}

/**
 * Start a -t container and attach this terminal to it (run -it, start -ai): the container
 * outlives a detach (ctrl-p ctrl-q), after which this exits 0, as Docker's CLI; otherwise
 * with the container's exit code. This process holds the container until a detach
 * (holdInSession); one with published ports (their proxies live in their holder) is held by
 * a supervisor from the start (`launch`).
 */
async function runSession(ctx: RuntimeContext, id: string, launch: SupervisorLaunch | undefined, options: { stdin: boolean; detachKeys: Buffer }): Promise<number> {
  const [{ RuntimeError }, { attachSession, holdInSession, terminalSize }] = await Promise.all([import("../runtime/errors.js"), import("../runtime/container/attach.js")]);
  const session = { tty: true, stdin: options.stdin, detachKeys: options.detachKeys };
  let end;
  if (launch === undefined) {
    const size = terminalSize();
    end = await holdInSession(ctx, id, { ...session, ...(size !== undefined ? { consoleSize: size } : {}) });
    // the container is the supervisor's now: end without waiting for what this process started
    if (end.detached) process.exit(0);
  } else {
    const socket = await launch.start(id);
    if (socket === undefined) throw new RuntimeError("cannot talk to the container's supervisor", { container: id });
    // Docker's run and start -a proxy signals for a -t container too (its attach does not)
    const stopProxy = proxySignals(ctx, id);
    end = await attachSession(socket, session).finally(stopProxy);
    if (end.detached) return 0;
  }
  if (end.error !== undefined) throw new RuntimeError(end.error, { exitCode: end.exitCode, container: id });
  return end.exitCode;
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
    const { BerthError } = await import("../errors.js");
    if (err instanceof BerthError && ![125, 126, 127].includes(err.exitCode)) {
      const { RuntimeError } = await import("../runtime/errors.js");
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
  const { formatRemoteReference, parseRemoteReference } = await import("../registry/index.js");
  const { pullForRun } = await import("./registry.js");
  if (!present) process.stderr.write(`Unable to find image '${formatRemoteReference(parseRemoteReference(image))}' locally\n`);
  // the CLI's runtime context holds the store itself (the runtime sees it through a narrow port)
  await pullForRun(ctx.store as unknown as import("../store/store.js").Store, image, platform);
}

async function createFromFlags(ctx: RuntimeContext, image: string, command: string[], flags: RunFlags) {
  return as125(() => createFromFlagsUnchecked(ctx, image, command, flags));
}

async function createFromFlagsUnchecked(ctx: RuntimeContext, image: string, command: string[], flags: RunFlags) {
  const { createContainer } = await import("../runtime/container/create.js");
  const { parseBytes, parseCpus, parseInteger } = await import("../runtime/container/parse-options.js");
  const env: string[] = [];
  if (flags.envFile !== undefined) {
    const { readFile } = await import("node:fs/promises");
    const { parseEnvFile } = await import("../runtime/env.js");
    const { RuntimeError } = await import("../runtime/errors.js");
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
  const { parseLabels } = await import("./format.js");
  const labels = parseLabels(flags.label);
  const platform = flags.platform !== undefined ? (await import("../image/platform.js")).parsePlatform(flags.platform) : undefined;
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

/** docker/cli's container formatter column titles, for `ps --format "table …"`. */
const PS_TITLES: Record<string, string> = {
  ID: "CONTAINER ID", Image: "IMAGE", Command: "COMMAND", CreatedAt: "CREATED AT", RunningFor: "CREATED", Status: "STATUS",
  State: "STATE", Ports: "PORTS", Names: "NAMES", ExitCode: "EXIT CODE",
};

/**
 * Attach to a running container (`attach`, `start -a` of a running one). A non-tty
 * container gets the signals this process receives (--sig-proxy). A detach is reported as
 * Docker's `attach` does ("read escape sequence", exit 1), or quietly (exit 0) for `start -a`.
 */
async function attachTo(ctx: RuntimeContext, ref: string, options: { stdin: boolean; sigProxy: boolean; detachKeys: Buffer; onDetach: "report" | "quiet" }): Promise<number> {
  const [{ RuntimeError }, { attachSession, connectToContainer }] = await Promise.all([import("../runtime/errors.js"), import("../runtime/container/attach.js")]);
  const { record, socket } = await connectToContainer(ctx, ref);
  const stdin = options.stdin && record.config.openStdin;
  if (record.config.tty && stdin && process.stdin.isTTY !== true) {
    socket.destroy();
    throw new RuntimeError("the input device is not a TTY", { exitCode: 1, container: record.id });
  }
  const stopProxy = options.sigProxy && !record.config.tty ? proxySignals(ctx, record.id) : undefined;
  try {
    const end = await attachSession(socket, { tty: record.config.tty, stdin, detachKeys: options.detachKeys });
    if (end.detached) {
      if (options.onDetach === "quiet") return 0;
      process.stderr.write("read escape sequence\n");
      return 1;
    }
    if (end.error !== undefined) throw new RuntimeError(end.error, { exitCode: end.exitCode, container: record.id });
    return end.exitCode;
  } finally {
    stopProxy?.();
  }
}

/** Docker's --sig-proxy: the signals this process gets go to the container (through runc); returns the undo. */
function proxySignals(ctx: RuntimeContext, id: string): () => void {
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR2"];
  const forward = (signal: NodeJS.Signals) => void ctx.runc.kill(id, signal).catch(() => undefined);
  for (const s of signals) process.on(s, forward);
  return () => {
    for (const s of signals) process.off(s, forward);
  };
}

function shortCommand(args: string[]): string {
  const text = args.join(" ");
  return `"${text.length > 20 ? `${text.slice(0, 19)}…` : text}"`;
}

export function registerContainerCommands(program: Command): void {
  program.enablePositionalOptions();

  addCreateFlags(program.command("run").description("Create and run a new container from an image"))
    .option("-d, --detach", "run in the background and print the container ID")
    .option("--detach-keys <keys>", "override the key sequence for detaching a container (default ctrl-p,ctrl-q)")
    .action(async (image: string, command: string[], flags: RunFlags, cmd: Command) => {
      const { trace } = await import("../sys/trace.js");
      trace("cli: run action");
      const keys = flags.tty === true && flags.detach !== true ? await detachKeys(flags.detachKeys) : undefined;
      if (keys !== undefined) await requireTerminal();
      const ctx = await context(cmd);
      trace("cli: store open");
      // a supervisor starts now, and waits for the container being created
      const { launchSupervisor } = await import("../runtime/container/lifecycle.js");
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
      const { startAttached } = await import("../runtime/container/lifecycle.js");
      process.exitCode = await startAttached(ctx, record.id);
    });

  addCreateFlags(program.command("create").description("Create a new container without starting it")).action(
    async (image: string, command: string[], flags: RunFlags, cmd: Command) => {
      const ctx = await context(cmd);
      const record = await createFromFlags(ctx, image, command, flags);
      process.stdout.write(`${record.id}\n`);
    },
  );

  program
    .command("start")
    .description("Start one or more stopped containers")
    .option("-a, --attach", "attach to the container's output and return its exit code")
    .option("-i, --interactive", "attach the container's STDIN")
    .option("--detach-keys <keys>", "override the key sequence for detaching a container (default ctrl-p,ctrl-q)")
    .argument("<containers...>")
    .action(async (refs: string[], flags: { attach?: boolean; interactive?: boolean; detachKeys?: string }, cmd: Command) => {
      const keys = await detachKeys(flags.detachKeys);
      const ctx = await context(cmd);
      const { startContainer } = await import("../runtime/container/lifecycle.js");
      if (flags.attach === true || flags.interactive === true) {
        if (refs.length > 1) throw new BerthError("you cannot start and attach multiple containers at once");
        const { findContainer } = await import("../runtime/container/lookup.js");
        const { record } = await findContainer(ctx, refs[0] as string);
        const stdin = flags.interactive === true && record.config.openStdin;
        if (record.state === "running") process.exitCode = await attachTo(ctx, record.id, { stdin, sigProxy: true, detachKeys: keys, onDetach: "quiet" });
        else if (record.config.tty) {
          await requireTerminal();
          process.exitCode = await runSession(ctx, record.id, record.hostConfig.ports.length > 0 ? await launchSession(ctx) : undefined, { stdin, detachKeys: keys });
        }
        else process.exitCode = (await startContainer(ctx, record.id, { attach: true })).exitCode ?? 0;
        return;
      }
      for (const ref of refs) {
        await startContainer(ctx, ref);
        process.stdout.write(`${ref}\n`);
      }
    });

  program
    .command("attach")
    .description("Attach local standard input, output, and error streams to a running container")
    .option("--no-stdin", "do not attach STDIN")
    .option("--sig-proxy [bool]", "proxy all received signals to the process (not for a -t container)", parseBool("--sig-proxy"), true)
    .option("--detach-keys <keys>", "override the key sequence for detaching a container (default ctrl-p,ctrl-q)")
    .argument("<container>")
    .action(async (ref: string, flags: { stdin: boolean; sigProxy: boolean; detachKeys?: string }, cmd: Command) => {
      const keys = await detachKeys(flags.detachKeys);
      const ctx = await context(cmd);
      process.exitCode = await attachTo(ctx, ref, { stdin: flags.stdin, sigProxy: flags.sigProxy, detachKeys: keys, onDetach: "report" });
    });

  program
    .command("ps")
    .description("List containers")
    .option("-a, --all", "show all containers (default shows just running)")
    .option("-q, --quiet", "only display container IDs")
    .option("--no-trunc", "do not truncate output")
    .option("-f, --filter <filter>", "filter: status=, name=, ancestor=, id= (repeatable)", collect)
    .option("--format <format>", "table, json, or a template such as {{.Names}}")
    .option("-n, --last <n>", "show n last created containers (includes all states)")
    .option("-l, --latest", "show the latest created container (includes all states)")
    .option("-s, --size", "display total file sizes")
    .action(async (flags: { all?: boolean; quiet?: boolean; trunc?: boolean; filter?: string[]; format?: string; last?: string; latest?: boolean; size?: boolean }, cmd: Command) => {
      const last = flags.latest === true ? 1 : flags.last === undefined ? undefined : Number(flags.last);
      if (last !== undefined && (!Number.isInteger(last) || last < -1)) throw new UsageError(`invalid argument "${flags.last}" for "-n, --last" flag: want a number`);
      // -n and -l look at every container, as -a does (-n -1 is Docker's "no limit")
      if (last !== undefined && last !== -1) flags.all = true;
      const ctx = await context(cmd);
      const { listContainers } = await import("../runtime/container/lookup.js");
      const { formatPort } = await import("../runtime/container/ports.js");
      const { RuntimeError } = await import("../runtime/errors.js");
      const { humanDuration, table, dockerTime, formatRows } = await import("./format.js");
      const { displayState } = await import("../runtime/container/pause.js");
      let list = (await listContainers(ctx)).map((c) => c.record);
      const filters = flags.filter ?? [];
      // a restarting container counts as running, as Docker's
      if (!flags.all && !filters.some((f) => f.startsWith("status="))) list = list.filter((r) => r.state === "running" || displayState(r) === "restarting");
      for (const f of filters) {
        const eq = f.indexOf("=");
        const key = f.slice(0, eq);
        const value = f.slice(eq + 1);
        if (key === "status") list = list.filter((r) => displayState(r) === value);
        else if (key === "name") list = list.filter((r) => r.name.includes(value));
        else if (key === "id") list = list.filter((r) => r.id.startsWith(value));
        else if (key === "ancestor") {
          list = list.filter((r) => r.image === value || r.image === `${value}:latest` || `${r.image}:latest` === value || r.imageId === value || r.imageId.replace("sha256:", "").startsWith(value.replace("sha256:", "")));
        } else throw new RuntimeError(`invalid filter '${f}': berth filters by status=, name=, ancestor=, id=`);
      }
      // newest first already: the n last created
      if (last !== undefined && last >= 0) list = list.slice(0, last);
      const now = Date.now();
      const status = (r: (typeof list)[number]) => {
        if (r.state === "running") return `Up ${humanDuration(now - Date.parse(r.startedAt ?? r.created))}${displayState(r) === "paused" ? " (Paused)" : ""}`;
        if (displayState(r) === "restarting") return `Restarting (${r.exitCode ?? 0}) ${humanDuration(now - Date.parse(r.finishedAt ?? r.created))} ago`;
        if (r.state === "exited") return `Exited (${r.exitCode ?? 0}) ${humanDuration(now - Date.parse(r.finishedAt ?? r.created))} ago`;
        return "Created";
      };
      const id = (r: (typeof list)[number]) => (flags.trunc === false ? r.id : r.id.slice(0, 12));
      if (flags.quiet === true) {
        process.stdout.write(list.map((r) => `${id(r)}\n`).join(""));
        return;
      }
      if (flags.format !== undefined && flags.format !== "table") {
        // `json` is one object per line, as Docker's; otherwise a Go template ({{.Names}}), or `table …`
        const rows = list.map((r) => ({
          ID: id(r),
          Image: r.image,
          Command: shortCommand(r.config.args),
          CreatedAt: dockerTime(r.created),
          RunningFor: humanDuration(now - Date.parse(r.created)),
          Status: status(r),
          State: displayState(r),
          Ports: r.state === "running" ? r.hostConfig.ports.map(formatPort).join(", ") : "",
          Names: r.name,
          ExitCode: r.exitCode,
        }));
        process.stdout.write(formatRows(flags.format, rows, PS_TITLES));
        return;
      }
      // -s: the container's own writes (its rw layer), and with the image's layers ("virtual")
      const sizes = new Map<string, string>();
      if (flags.size === true) {
        const { dirSize } = await import("../store/usage.js");
        const { humanSize } = await import("./format.js");
        for (const r of list) {
          const rw = await dirSize(r.snapshot.upperDir);
          const image = await ctx.store.resolveImage(r.imageId).then((img) => img.layers.reduce((a, l) => a + (l.contentSize ?? l.size), 0), () => 0);
          sizes.set(r.id, `${humanSize(rw)} (virtual ${humanSize(rw + image)})`);
        }
      }
      process.stdout.write(
        table(
          ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES", ...(flags.size === true ? ["SIZE"] : [])],
          list.map((r) => [
            id(r),
            r.image,
            flags.trunc === false ? `"${r.config.args.join(" ")}"` : shortCommand(r.config.args),
            `${humanDuration(now - Date.parse(r.created))} ago`,
            status(r),
            r.state === "running" ? r.hostConfig.ports.map(formatPort).join(", ") : "",
            r.name,
            ...(flags.size === true ? [sizes.get(r.id) ?? ""] : []),
          ]),
        ),
      );
    });

  program
    .command("logs")
    .description("Fetch the logs of a container")
    .option("-f, --follow", "follow log output")
    .option("-n, --tail <n>", "number of lines to show from the end", "all")
    .option("-t, --timestamps", "show timestamps")
    .argument("<container>")
    .action(async (ref: string, flags: { follow?: boolean; tail: string; timestamps?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const { findContainer } = await import("../runtime/container/lookup.js");
      const { readLog, followLog, LOG_FILE } = await import("../runtime/container/logs.js");
      const { readRecord, withLiveState } = await import("../runtime/container/record.js");
      const { RuntimeError } = await import("../runtime/errors.js");
      const { join } = await import("node:path");
      const { dir } = await findContainer(ctx, ref);
      let tail: number | undefined;
      if (flags.tail !== "all") {
        if (!/^[0-9]+$/.test(flags.tail)) throw new RuntimeError(`invalid value "${flags.tail}" for --tail: a number or all`);
        tail = Number(flags.tail);
      }
      const path = join(dir, LOG_FILE);
      const emit = (e: { log: string; stream: "stdout" | "stderr"; time: string }) => {
        const text = flags.timestamps === true ? `${e.time} ${e.log}` : e.log;
        (e.stream === "stdout" ? process.stdout : process.stderr).write(text);
      };
      const { entries, offset } = await readLog(path, tail);
      entries.forEach(emit);
      if (flags.follow === true) {
        await followLog(path, offset, async () => withLiveState(await readRecord(dir)).state !== "running", emit);
      }
    });

  program
    .command("exec")
    .description("Run a command in a running container")
    .option("-i, --interactive", "keep STDIN open")
    .option("-t, --tty", "allocate a pseudo-TTY")
    .option("-e, --env <KEY=value>", "set an environment variable (repeatable)", collect)
    .option("-u, --user <user[:group]>", "user name or UID")
    .option("-w, --workdir <dir>", "working directory inside the container")
    .argument("<container>")
    .argument("<command...>")
    .passThroughOptions()
    .action(async (ref: string, args: string[], flags: { interactive?: boolean; tty?: boolean; env?: string[]; user?: string; workdir?: string }, cmd: Command) => {
      const { trace } = await import("../sys/trace.js");
      trace("cli: exec action");
      const ctx = await context(cmd);
      const { execInContainer } = await import("../runtime/container/exec.js");
      process.exitCode = await execInContainer(ctx, ref, {
        args,
        env: flags.env ?? [],
        ...(flags.user !== undefined ? { user: flags.user } : {}),
        ...(flags.workdir !== undefined ? { cwd: flags.workdir } : {}),
        tty: flags.tty === true,
        interactive: flags.interactive === true,
      });
    });

  for (const [name, description] of [
    ["stop", "Stop one or more running containers (STOPSIGNAL, then SIGKILL after the grace period)"],
    ["restart", "Restart one or more containers"],
  ] as const) {
    program
      .command(name)
      .description(description)
      .option("-t, --time <seconds>", "seconds to wait before killing the container", "10")
      .argument("<containers...>")
      .action(async (refs: string[], flags: { time: string }, cmd: Command) => {
        const ctx = await context(cmd);
        const { parseInteger } = await import("../runtime/container/parse-options.js");
        const lifecycle = await import("../runtime/container/lifecycle.js");
        const grace = parseInteger(flags.time, "--time");
        await forEachContainer(refs, async (ref) => {
          await (name === "stop" ? lifecycle.stopContainer(ctx, ref, grace) : lifecycle.restartContainer(ctx, ref, grace));
        });
      });
  }

  program
    .command("kill")
    .description("Kill one or more running containers")
    .option("-s, --signal <signal>", "signal to send", "SIGKILL")
    .argument("<containers...>")
    .action(async (refs: string[], flags: { signal: string }, cmd: Command) => {
      const ctx = await context(cmd);
      const { killContainer } = await import("../runtime/container/lifecycle.js");
      await forEachContainer(refs, async (ref) => {
        await killContainer(ctx, ref, flags.signal);
      });
    });

  program
    .command("rename")
    .description("Rename a container")
    .argument("<container>")
    .argument("<new-name>")
    .action(async (ref: string, newName: string, _flags: object, cmd: Command) => {
      const ctx = await context(cmd);
      const { renameContainer } = await import("../runtime/container/rename.js");
      await renameContainer(ctx, ref, newName);
    });

  program
    .command("port")
    .description("List port mappings or a specific mapping for the container")
    .argument("<container>")
    .argument("[private-port]", "PRIVATE_PORT[/PROTO]")
    .action(async (ref: string, privatePort: string | undefined, _flags: object, cmd: Command) => {
      const ctx = await context(cmd);
      const { findContainer } = await import("../runtime/container/lookup.js");
      const { withLiveState } = await import("../runtime/container/record.js");
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

  program
    .command("pause")
    .description("Pause all processes within one or more containers")
    .argument("<containers...>")
    .action(async (refs: string[], _flags: object, cmd: Command) => {
      const ctx = await context(cmd);
      const { pauseContainer } = await import("../runtime/container/pause.js");
      await forEachContainer(refs, async (ref) => {
        await pauseContainer(ctx, ref);
      });
    });

  program
    .command("unpause")
    .description("Unpause all processes within one or more containers")
    .argument("<containers...>")
    .action(async (refs: string[], _flags: object, cmd: Command) => {
      const ctx = await context(cmd);
      const { unpauseContainer } = await import("../runtime/container/pause.js");
      await forEachContainer(refs, async (ref) => {
        await unpauseContainer(ctx, ref);
      });
    });

  program
    .command("top")
    .description("Display the running processes of a container (ps -ef, or the ps options given)")
    .argument("<container>")
    .argument("[ps-options...]", "options for ps")
    .passThroughOptions()
    .allowUnknownOption()
    .action(async (ref: string, psArgs: string[], _flags: object, cmd: Command) => {
      const ctx = await context(cmd);
      const { topContainer } = await import("../runtime/container/top.js");
      const { table } = await import("./format.js");
      const top = await topContainer(ctx, ref, psArgs);
      process.stdout.write(table(top.titles, top.processes));
    });

  program
    .command("stats")
    .description("Display a live stream of container resource usage statistics")
    .option("-a, --all", "show all containers (default shows just running)")
    .option("--no-stream", "print one frame and exit instead of streaming")
    .option("--no-trunc", "do not truncate output")
    .option("--format <format>", "table (the default), or a template such as {{.Name}} {{.CPUPerc}}")
    .argument("[containers...]")
    .action(async (refs: string[], flags: { all?: boolean; stream?: boolean; trunc?: boolean; format?: string }, cmd: Command) => {
      const ctx = await context(cmd);
      const { runStats } = await import("./stats.js");
      await runStats(ctx, refs, flags);
    });

  program
    .command("update")
    .description("Update the resource limits of one or more containers")
    .option("-m, --memory <bytes>", "memory limit (e.g. 64m, 1g)")
    .option("--cpus <n>", "number of CPUs (e.g. 0.5)")
    .option("--pids-limit <n>", "maximum number of processes (-1 for unlimited)")
    .argument("<containers...>")
    .action(async (refs: string[], flags: { memory?: string; cpus?: string; pidsLimit?: string }, cmd: Command) => {
      const ctx = await context(cmd);
      const { parseBytes, parseCpus, parseInteger } = await import("../runtime/container/parse-options.js");
      const { RuntimeError } = await import("../runtime/errors.js");
      const { updateContainer } = await import("../runtime/container/update.js");
      const update = {
        ...(flags.memory !== undefined ? { memory: parseBytes(flags.memory) } : {}),
        ...(flags.cpus !== undefined ? { cpus: parseCpus(flags.cpus) } : {}),
        ...(flags.pidsLimit !== undefined ? { pidsLimit: parseInteger(flags.pidsLimit, "--pids-limit") } : {}),
      };
      if (Object.keys(update).length === 0) throw new RuntimeError("you must provide one or more flags when using this command", { exitCode: 1 });
      await forEachContainer(refs, async (ref) => {
        await updateContainer(ctx, ref, update);
      });
    });

  program
    .command("wait")
    .description("Block until containers stop, then print their exit codes")
    .argument("<containers...>")
    .action(async (refs: string[], _flags: object, cmd: Command) => {
      const ctx = await context(cmd);
      const { findContainer } = await import("../runtime/container/lookup.js");
      const { waitForExit } = await import("../runtime/container/lifecycle.js");
      for (const ref of refs) {
        const { record } = await findContainer(ctx, ref);
        process.stdout.write(`${(await waitForExit(ctx, record.id)) ?? 0}\n`);
      }
    });

  program
    .command("rm")
    .description("Remove one or more containers")
    .option("-f, --force", "force the removal of a running container (SIGKILL)")
    .option("-v, --volumes", "remove anonymous volumes of the container")
    .argument("<containers...>")
    .action(async (refs: string[], flags: { force?: boolean; volumes?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const { removeContainer } = await import("../runtime/container/remove.js");
      await forEachContainer(refs, async (ref) => {
        await removeContainer(ctx, ref, { force: flags.force === true, volumes: flags.volumes === true });
      });
    });

  program
    .command("diff")
    .description("Inspect changes to files or directories on a container's file system")
    .argument("<container>")
    .action(async (ref: string, _flags: object, cmd: Command) => {
      const ctx = await context(cmd);
      const { containerChanges } = await import("../runtime/container/changes.js");
      process.stdout.write((await containerChanges(ctx, ref)).map((c) => `${c.kind} ${c.path}\n`).join(""));
    });

  program
    .command("commit")
    .description("Create a new image from a container's changes")
    .option("-m, --message <text>", "commit message")
    .option("-a, --author <name>", "author")
    .option("-c, --change <instruction>", "apply a Dockerfile instruction to the created image: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR (repeatable)", collect, [])
    // Go's bool flag forms (-p, --pause=false); commander gives an optional value the next word, so
    // `-p CONTAINER` arrives as the flag's value and is taken back as the first argument
    .option("-p, --pause [bool]", "pause the container during the commit (default true; --pause=false to keep it running)")
    .argument("[container]")
    .argument("[ref]", "repository[:tag]")
    .action(async (first: string | undefined, second: string | undefined, flags: { message?: string; author?: string; change: string[]; pause?: string | boolean }, cmd: Command) => {
      const pauseWord = typeof flags.pause === "string" ? flags.pause.replace(/^=/, "") : undefined;
      const isBool = pauseWord === undefined || /^(true|false|1|0|t|f)$/i.test(pauseWord);
      const [ref, imageRef, extra] = [...(isBool ? [] : [pauseWord]), first, second].filter((a): a is string => a !== undefined);
      if (ref === undefined || extra !== undefined) throw new UsageError('"commit" requires at least 1 and at most 2 arguments.');
      const ctx = await context(cmd);
      const { commitContainer } = await import("../runtime/container/commit.js");
      const image = await commitContainer(ctx, ref, {
        changes: flags.change,
        pause: !isBool || pauseWord === undefined || /^(true|1|t)$/i.test(pauseWord),
        ...(imageRef !== undefined ? { ref: imageRef } : {}),
        ...(flags.message !== undefined ? { message: flags.message } : {}),
        ...(flags.author !== undefined ? { author: flags.author } : {}),
      });
      process.stdout.write(`${image.id}\n`);
    });

  program
    .command("cp")
    .description("Copy files between a container and the host (CONTAINER:SRC DEST|- or SRC|- CONTAINER:DEST); `-` is a tar stream on stdout or stdin")
    .option("-L, --follow-link", "always follow a symbolic link named by SRC")
    .argument("<src>")
    .argument("<dest>")
    .action(async (src: string, dest: string, flags: { followLink?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const { copyFiles } = await import("../runtime/container/copy.js");
      await copyFiles(ctx, src, dest, { followLink: flags.followLink === true });
    });

  program
    .command("export")
    .description("Export a container's filesystem as a tar archive")
    .option("-o, --output <file>", "write to a file, instead of STDOUT")
    .argument("<container>")
    .action(async (ref: string, flags: { output?: string }, cmd: Command) => {
      if (flags.output === undefined && process.stdout.isTTY) throw new BerthError("cowardly refusing to save to a terminal. Use the -o flag or redirect", { exitCode: 1 });
      const ctx = await context(cmd);
      const { exportContainer } = await import("../runtime/container/copy.js");
      if (flags.output === undefined) return exportContainer(ctx, ref, process.stdout);
      // as docker/cli's atomic writer: the file appears whole, or not at all
      const { createWriteStream } = await import("node:fs");
      const { rename, rm } = await import("node:fs/promises");
      const tmp = `${flags.output}.berth-tmp-${process.pid}`;
      try {
        await exportContainer(ctx, ref, createWriteStream(tmp, { mode: 0o600 }));
        await rename(tmp, flags.output);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    });

  const container = program
    .command("container")
    .description("Manage containers")
    .addHelpText("after", "\nAlso, as Docker's: container ls|ps|list, run, create, start, stop, restart, kill, wait, rm, logs, exec,\ndiff, commit, cp, rename, port, pause, unpause, top, stats, update: the top-level command of that name\n(container ls is berth ps).");
  container
    .command("prune")
    .description("Remove all stopped containers")
    .option("-f, --force", "Do not prompt for confirmation")
    .action(async (flags: { force?: boolean }, cmd: Command) => {
      if (flags.force !== true && !(await confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"))) {
        process.stdout.write("Total reclaimed space: 0B\n");
        return;
      }
      const ctx = await context(cmd);
      const { pruneContainers } = await import("../runtime/container/remove.js");
      const ids = await pruneContainers(ctx);
      process.stdout.write(ids.length > 0 ? `Deleted Containers:\n${ids.map((i) => `${i}\n`).join("")}\n` : "");
      process.stdout.write(`Total reclaimed space: 0B\n`);
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

  const volume = program.command("volume").description("Manage volumes");
  volume
    .command("create")
    .argument("[name]")
    .option("-l, --label <key=value>", "set a label (repeatable)", collect)
    .action(async (name: string | undefined, flags: { label?: string[] }, cmd: Command) => {
      const ctx = await context(cmd);
      const { parseLabels } = await import("./format.js");
      process.stdout.write(`${(await ctx.store.createVolume(name, { labels: parseLabels(flags.label) })).Name}\n`);
    });
  volume
    .command("ls")
    .option("-q, --quiet", "only display volume names")
    .action(async (flags: { quiet?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const { table } = await import("./format.js");
      const list = await ctx.store.listVolumes();
      if (flags.quiet === true) process.stdout.write(list.map((v) => `${v.Name}\n`).join(""));
      else process.stdout.write(table(["DRIVER", "VOLUME NAME"], list.map((v) => [v.Driver, v.Name])));
    });
  volume
    .command("inspect")
    .argument("<names...>")
    .option("-f, --format <format>", "format the output using a Go template, or json")
    .action(async (names: string[], flags: { format?: string }, cmd: Command) => {
      const ctx = await context(cmd);
      const out = [];
      for (const n of names) out.push(await ctx.store.inspectVolume(n));
      printInspect(out, flags.format);
    });
  volume
    .command("rm")
    .argument("<names...>")
    .option("-f, --force", "remove even if in use")
    .action(async (names: string[], flags: { force?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const { listContainers } = await import("../runtime/container/lookup.js");
      const all = await listContainers(ctx);
      for (const n of names) {
        const users = flags.force === true ? [] : all.filter((c) => c.record.hostConfig.volumes.some((v) => v.name === n)).map((c) => c.record.id.slice(0, 12));
        await ctx.store.removeVolume(n, users);
        process.stdout.write(`${n}\n`);
      }
    });
  volume
    .command("prune")
    .description("Remove unused local volumes (anonymous ones; -a: named ones too)")
    .option("-a, --all", "remove all unused volumes, not just anonymous ones")
    .option("-f, --force", "Do not prompt for confirmation")
    .action(async (flags: { all?: boolean; force?: boolean }, cmd: Command) => {
      const question = flags.all === true ? "WARNING! This will remove all local volumes not used by at least one container." : "WARNING! This will remove anonymous local volumes not used by at least one container.";
      if (flags.force !== true && !(await confirm(`${question}\nAre you sure you want to continue?`))) {
        process.stdout.write("Total reclaimed space: 0B\n");
        return;
      }
      const ctx = await context(cmd);
      const { pruneVolumes } = await import("../runtime/container/volumes.js");
      const r = await pruneVolumes(ctx, { all: flags.all === true });
      const { humanSize } = await import("./format.js");
      process.stdout.write(`${r.removed.length > 0 ? `Deleted Volumes:\n${r.removed.map((n) => `${n}\n`).join("")}\n` : ""}Total reclaimed space: ${humanSize(r.bytes)}\n`);
    });
}

/** Docker's multi-container commands go on after an error and exit 1 at the end. */
async function forEachContainer(refs: string[], fn: (ref: string) => Promise<void>): Promise<void> {
  const { BerthError } = await import("../errors.js");
  let failed = false;
  for (const ref of refs) {
    try {
      await fn(ref);
      process.stdout.write(`${ref}\n`);
    } catch (err) {
      if (!(err instanceof BerthError)) throw err;
      process.stderr.write(`Error: ${err.message}\n`);
      failed = true;
    }
  }
  if (failed) process.exitCode = 1;
}

/** `berth inspect` for containers: what the image inspect falls back to when no image matches. */
export async function inspectContainers(ctx: RuntimeContext, refs: string[]): Promise<Record<string, unknown>[]> {
  const { findContainer } = await import("../runtime/container/lookup.js");
  const { inspectContainer } = await import("../runtime/container/inspect.js");
  const out: Record<string, unknown>[] = [];
  for (const ref of refs) {
    const { dir, record } = await findContainer(ctx, ref);
    out.push(inspectContainer(record, dir));
  }
  return out;
}

import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { RuntimeError, requireRoot } from "../errors.js";
import { checkExecutable, resolveInRootfs, type RootfsView } from "../lookpath.js";
import { runtimeChild } from "../overlay.js";
import { exitCodeOf, runcFailure } from "../runc.js";
import { parseSeccompProfile } from "../seccomp.js";
import type { MountRequest } from "../spec.js";
import { runStartSequence } from "../start-sequence.js";
import { trace } from "../../sys/trace.js";
import { NETWORK_LOCK, PID_FILE, ROOTFS_LOCK, RUNC_LOG, type RuntimeContext } from "./context.js";
import { acquireFlock, type HeldLock } from "../../sys/flock.js";
import { networkFiles, prepareInitLayer } from "./init-layer.js";
import { containerEvent } from "./events.js";
import { LOG_FILE, LogWriter } from "./logs.js";
import { PortPublisher } from "./ports.js";
import type { AttachServer } from "./attach-server.js";
import { attachedNetworks, isAlive, processRef, readRecord, writeRecord, type ContainerRecord, type RecordedEndpoint } from "./record.js";
import { isEmptyDir } from "./volumes.js";
import { attachContainer, endpointHook, refreshNetworkHosts, releaseEndpoint, type Endpoint } from "../network/attach.js";
import { FALLBACK_NAMESERVERS } from "../network/namespace.js";
import { endpointEvents } from "../network/events.js";
import { allNetworks, DEFAULT_NETWORK, findNetwork } from "../network/records.js";

/** tini, built static so it runs in any image (Debian's tini package); Docker's --init is tini too. */
export const INIT_BINARY = "/usr/bin/tini-static";

export interface SuperviseOptions {
  /**
   * attach: this process is the user's CLI (stdio streamed to it, or handed to runc for a
   * terminal); detach: a supervisor with no terminal, output only to the log.
   */
  mode: "attach" | "detach";
  /** called once: when the container's process runs, or with the error that kept it from starting */
  onReady?: (error?: RuntimeError) => void;
  /**
   * Whether this process starts the container again (its restart policy, see restart.ts): the
   * record then says restarting, with this process as its supervisor.
   */
  restartsAfter?: (exitCode: number, record: ContainerRecord) => boolean;
  /** the attach socket's server, which relays the container's stdio to its clients (`berth attach`, `run -it`) */
  attachServer?: AttachServer;
}

/** Whether swap is accounted (memory.memsw.* exists): Docker drops the swap limit otherwise. */
function swapAccounting(): boolean {
  return existsSync("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
}

async function volumeMounts(ctx: RuntimeContext, record: ContainerRecord, rootfs: RootfsView): Promise<MountRequest[]> {
  const out: MountRequest[] = [];
  for (const v of record.hostConfig.volumes) {
    const info = await ctx.store.inspectVolume(v.name);
    // Docker copies the image's content at the mount point into an empty volume on first use
    // (from the topmost layer holding that directory: lower layers' entries are not merged in)
    const inImage = await resolveInRootfs(rootfs, v.destination);
    if (inImage !== undefined && !(await isEmptyDir(inImage)) && (await isEmptyDir(info.Mountpoint))) {
      await new Promise<void>((resolve, reject) => {
        const cp = spawn("cp", ["-a", `${inImage}/.`, info.Mountpoint], { stdio: "ignore" });
        cp.once("error", reject);
        cp.once("close", (code) => (code === 0 ? resolve() : reject(new RuntimeError(`copying ${v.destination} into volume ${v.name} failed`))));
      });
    }
    out.push({ type: "bind", source: info.Mountpoint, destination: v.destination, readOnly: v.readOnly });
  }
  return out;
}

/** Wait until runc wrote the init pid (it does after the process started), or runc exited. */
async function waitForPid(pidFile: string, child: ChildProcess): Promise<number | undefined> {
  for (;;) {
    const text = await readFile(pidFile, "utf8").catch(() => "");
    if (/^[0-9]+$/.test(text.trim())) return Number(text.trim());
    if (child.exitCode !== null || child.signalCode !== null) return undefined;
    await new Promise((r) => setTimeout(r, 3));
  }
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_/.=:@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

/**
 * Start the container and hold it until it exits: the supervised profile of the start sequence
 * (../start-sequence.ts), which mounts its rootfs through the chain (so that its exit outlives
 * this process), plugs it into its networks, publishes its ports, runs runc in the foreground,
 * logs its output, keeps its record true, and cleans up (proxies, endpoints; the container
 * itself with --rm). Returns the container's exit code. Both the foreground `berth run` and the
 * detached supervisor process run this.
 */
export async function superviseContainer(ctx: RuntimeContext, id: string, options: SuperviseOptions): Promise<number> {
  const dir = await ctx.store.containerDir(id);
  let record = await readRecord(dir);
  let ready = false;
  try {
    requireRoot();
  } catch (err) {
    options.onReady?.(err as RuntimeError);
    throw err;
  }
  const signalReady = (error?: RuntimeError) => {
    if (ready) return;
    ready = true;
    options.onReady?.(error);
  };
  if (record.state === "running" && (isAlive(record.supervisor) || isAlive(record.runtime) || isAlive(record.pid))) {
    const err = new RuntimeError(`container ${record.name} is already running`, { container: id });
    signalReady(err);
    throw err;
  }
  const pidFile = join(dir, PID_FILE);
  const logFile = join(dir, RUNC_LOG);
  const publisher = new PortPublisher(ctx.runDir, id);
  let started = false;
  // this start's endpoints, and at the end those the record names (a `network connect` adds some)
  const endpoints: Array<Endpoint | RecordedEndpoint> = [];
  let rootfsLock: HeldLock | undefined;
  let networkLock: HeldLock | undefined = await acquireFlock(join(dir, NETWORK_LOCK));
  try {
    record = await readRecord(dir); // its networks as they are now that no connect runs
    const cfg = record.config;
    const host = record.hostConfig;
    // the rootfs is mounted only inside runc's mount namespace: read the layers directly
    const layers = [record.snapshot.upperDir, ...record.snapshot.lowerDirs];
    const attach = options.mode === "attach";
    // should this process die first (a SIGKILLed `berth run`, or supervisor), the chain's
    // shell hands runc's exit code to a fresh supervisor process, which records it and removes
    // a --rm container (finishOrphaned)
    const finish = [process.execPath, fileURLToPath(new URL("./supervisor-main.js", import.meta.url)), "--finish", resolve(ctx.store.root), id, ctx.runDir, ctx.runc.binary];
    let attached: Endpoint[] = [];
    const server = options.attachServer;
    const size = server?.consoleSize;
    const exitCode = await runStartSequence({
      id,
      runc: ctx.runc,
      bundle: dir,
      overlay: record.snapshot,
      process: { args: cfg.args, env: cfg.env, cwd: cfg.cwd, user: cfg.user, terminal: cfg.tty, hostname: cfg.hostname, hostnameVariable: true },
      volatile: host.autoRemove,
      finish,
      pidFile,
      // runc needs a terminal on its side for a -t container: `script` makes one, inside the
      // chain (whose shell then still finishes the container for a dead holder); the log holds
      // the terminal's output, \r\n and all, as Docker's does for -t containers. The terminal is
      // sized as the first client's before runc starts.
      ...(cfg.tty
        ? { wrapRuntime: (argv: string[]) => ["script", "-q", "-e", "-f", "-c", `${size !== undefined ? `stty rows ${size.rows} cols ${size.columns} 2>/dev/null; ` : ""}${argv.map(shellQuote).join(" ")}`, "/dev/null"] }
        : {}),
      prepare: async ({ env }) => {
        const [command] = cfg.args;
        if (command === undefined) throw new RuntimeError("no command specified");
        const cleared = Promise.all([rm(pidFile, { force: true }), rm(logFile, { force: true }), host.ports.length > 0 ? mkdir(ctx.runDir, { recursive: true }) : undefined]);
        cleared.catch(() => undefined);
        const commandChecked = host.binds.some((b) => command.startsWith(b.destination + "/")) ? undefined : checkExecutable(layers, command, env, cfg.cwd);
        // (awaited below, beside the init layer: a rejection is handled there)
        commandChecked?.catch(() => undefined);
        // `-v /host/dir:/ctr` makes a missing host dir, as Docker's daemon does for -v binds
        // (its --mount type=bind refuses one instead)
        for (const b of host.binds) {
          if (b.type === "bind" && !existsSync(b.source)) await mkdir(b.source, { recursive: true, mode: 0o755 });
        }
        if (host.init && !existsSync(INIT_BINARY)) throw new RuntimeError(`--init needs ${INIT_BINARY} (Debian package tini)`);
        // the default bridge or user networks: their namespaces made if needed, an address reserved on each
        const attaching = attachAll(ctx, record, attachedNetworks(host), endpoints);
        attaching.catch(() => undefined);
        const [initDir, attachedNow, volumes] = await Promise.all([prepareInitLayer(dir, record.snapshot.lowerDirs), attaching, volumeMounts(ctx, record, layers), commandChecked, cleared]);
        attached = attachedNow;
        const netFiles = await networkFiles(dir, {
          hostname: cfg.hostname,
          network: host.network,
          ...(attached[0] !== undefined ? { ip: attached[0].ip } : {}),
          ...(host.extraHosts !== undefined ? { extraHosts: host.extraHosts } : {}),
          ...(host.dns !== undefined ? { dns: host.dns } : {}),
          ...(host.dnsSearch !== undefined ? { dnsSearch: host.dnsSearch } : {}),
          fallbackNameservers: FALLBACK_NAMESERVERS,
        });
        // a user network's members find each other by name: every member's /etc/hosts gains this one
        for (const ep of attached) {
          if (ep.network !== DEFAULT_NETWORK) await refreshNetworkHosts(ctx.runDir, { name: ep.network }, { dir: dirname(ep.nsPath), ipsDir: dirname(ep.reservation) });
        }
        trace("supervise: network attached");
        return {
          lowerDirsAbove: [initDir],
          spec: {
            network: host.network,
            mounts: [...netFiles, ...host.binds, ...volumes],
            readOnlyRootfs: host.readOnlyRootfs,
            capAdd: host.capAdd,
            capDrop: host.capDrop,
            privileged: host.privileged,
            noNewPrivileges: host.noNewPrivileges,
            ...(host.seccomp !== undefined ? { seccomp: host.seccomp === "unconfined" ? "unconfined" : parseSeccompProfile(host.seccomp, `container ${record.name}'s seccomp profile`) } : {}),
            cgroupns: host.cgroupns ?? "host",
            resources: host.resources,
            ...(host.init ? { init: INIT_BINARY } : {}),
            ...(host.resources.memory !== undefined ? { swapAccounting: swapAccounting() } : {}),
            ...(attached.length > 0 ? { hooks: { createRuntime: [endpointHook(attached)] } } : {}),
          },
        };
      },
      launch: async (command) => {
        const ports = await publisher.bind(host.ports);
        // a -t container's terminal is relayed by the attach server (the CLI's session is a client)
        const passThrough = attach && !cfg.tty && host.autoRemove;
        if (attach && cfg.tty && process.stdin.isTTY !== true) throw new RuntimeError("the input device is not a TTY");
        const stdin = cfg.tty ? "pipe" : cfg.openStdin ? (attach ? "inherit" : server !== undefined ? "pipe" : "ignore") : "ignore";
        const stdio: StdioOptions = passThrough ? [stdin, "inherit", "inherit"] : [stdin, "pipe", "pipe"];
        rootfsLock = await acquireFlock(join(dir, ROOTFS_LOCK)); // a `cp` into the stopped container finishes first
        // a -t chain in a session of its own (the holder's terminal going away after a detach
        // must not signal it); script's command runs in $SHELL: sh starts fastest
        const child = spawn(command.file, command.args, { cwd: command.cwd, stdio, ...(cfg.tty ? { env: { ...process.env, SHELL: "/bin/sh" }, detached: true } : {}) });
        const log = passThrough ? undefined : new LogWriter(join(dir, LOG_FILE));
        server?.connect(child, log);
        const echo = attach && !cfg.tty;
        child.stdout?.on("data", (chunk: Buffer) => {
          log?.write("stdout", chunk);
          server?.output("stdout", chunk);
          if (echo) process.stdout.write(chunk);
        });
        child.stderr?.on("data", (chunk: Buffer) => {
          log?.write("stderr", chunk);
          server?.output("stderr", chunk);
          if (echo) process.stderr.write(chunk);
        });
        // to runc, which forwards it to the container: the chain's shell waits for runc and ignores them
        const forward = (signal: NodeJS.Signals) => () => {
          if (child.exitCode !== null) return;
          // (a -t container's runc is script's child)
          if (cfg.tty) return void ctx.runc.kill(id, signal);
          const runtime = child.pid === undefined ? undefined : runtimeChild(child.pid);
          if (runtime === undefined) child.kill(signal);
          else process.kill(runtime, signal);
        };
        const onInt = forward("SIGINT");
        const onTerm = forward("SIGTERM");
        const onHup = forward("SIGHUP");
        process.on("SIGINT", onInt).on("SIGTERM", onTerm).on("SIGHUP", onHup);
        const exited = exitCodeOf(child);
        trace("supervise: runc spawned");

        record = {
          ...record,
          state: "running",
          hostConfig: { ...host, ports },
          ...(processRef(process.pid) !== undefined ? { supervisor: processRef(process.pid) } : {}),
          ...(child.pid !== undefined && processRef(child.pid) !== undefined ? { runtime: processRef(child.pid) } : {}),
          startedAt: new Date().toISOString(),
          ...(attached.length > 0 ? { endpoints: attached } : {}),
          // Docker's RestartCount: restarts by the policy since the last manual start
          restartCount: record.restarting === true ? record.restartCount : 0,
        };
        delete record.restarting;
        delete record.endpoint;
        delete record.exitCode;
        delete record.finishedAt;
        delete record.error;
        await writeRecord(dir, record);
        endpointEvents(ctx.store.root, "connect", attached, id);
        containerEvent(ctx, record, "start");
        await rootfsLock.release(); // a `cp` now finds the running container
        rootfsLock = undefined;
        await networkLock?.release(); // and a `network connect` its endpoints
        networkLock = undefined;

        // the init pid matters for published ports (their proxy joins its network namespace) and
        // for a detached start (the CLI waits until the process runs); a foreground run or a
        // session without ports skips the wait: the record's runc process already tells whether it runs
        const needPid = ports.length > 0 || (!attach && server?.session !== true);
        const pid = needPid ? await waitForPid(pidFile, child) : undefined;
        if (!needPid) {
          started = true;
          signalReady();
        }
        if (pid !== undefined) {
          const ref = processRef(pid);
          if (ref !== undefined) {
            record = { ...record, pid: ref };
            await writeRecord(dir, record);
            try {
              await publisher.startInner(pid, ports);
            } catch (err) {
              await ctx.runc.kill(id, "SIGKILL", true);
              throw err;
            }
          }
          started = true;
          signalReady();
        }
        trace("supervise: running recorded");
        return {
          exited,
          done: async () => {
            process.off("SIGINT", onInt).off("SIGTERM", onTerm).off("SIGHUP", onHup);
            await log?.close();
          },
        };
      },
    });
    // the record as a `network connect` may have left it (networks, endpoints), and kept so until the endpoints are released
    // (a container removed by `rm -f` meanwhile has no directory left to lock or read)
    networkLock = await acquireFlock(join(dir, NETWORK_LOCK)).catch(() => undefined);
    record = await readRecord(dir).catch(() => record);
    endpoints.push(...(record.endpoints ?? []));
    record = { ...record, state: "exited", exitCode, finishedAt: new Date().toISOString() };
    if (options.restartsAfter?.(exitCode, record) === true) record = { ...record, restarting: true, restartCount: record.restartCount + 1 };
    delete record.endpoints;
    delete record.endpoint;
    delete record.pid;
    if (record.restarting !== true) delete record.supervisor;
    delete record.runtime;
    // a --rm container is removed next: its last state is not worth a write
    // (and a container removed by `rm -f` meanwhile has no directory left to write to)
    // die before the record says exited: a `stop` waiting for that logs its stop after it
    containerEvent(ctx, record, "die", { exitCode: String(exitCode) });
    endpointEvents(ctx.store.root, "disconnect", endpoints, id);
    if (!record.hostConfig.autoRemove) await writeRecord(dir, record).catch(() => undefined);
    signalReady();
    return exitCode;
  } catch (err) {
    const error = err instanceof RuntimeError ? err : new RuntimeError(err instanceof Error ? err.message : String(err), { cause: err });
    // a container whose process never ran stays "created", as Docker keeps it
    networkLock ??= await acquireFlock(join(dir, NETWORK_LOCK)).catch(() => undefined);
    record = await readRecord(dir);
    endpoints.push(...(record.endpoints ?? []));
    // (a restart that failed: exited, and no more restarts, as Docker's)
    record = { ...record, state: started || record.restarting === true ? "exited" : "created", exitCode: error.exitCode, error: error.message };
    delete record.restarting;
    delete record.endpoints;
    delete record.endpoint;
    delete record.pid;
    delete record.supervisor;
    delete record.runtime;
    if (started) {
      containerEvent(ctx, record, "die", { exitCode: String(error.exitCode) });
      endpointEvents(ctx.store.root, "disconnect", endpoints, id);
    }
    await writeRecord(dir, record).catch(() => undefined);
    signalReady(error);
    throw error;
  } finally {
    await rootfsLock?.release();
    await publisher.close();
    trace("supervise: proxies closed");
    const released = new Set<string>();
    for (const ep of endpoints) {
      if (released.has(ep.reservation)) continue;
      released.add(ep.reservation);
      releaseEndpoint(ep, id);
      if (ep.network !== DEFAULT_NETWORK) {
        await refreshNetworkHosts(ctx.runDir, { name: ep.network }, { dir: dirname(ep.nsPath), ipsDir: dirname(ep.reservation) }).catch(() => undefined);
      }
    }
    await networkLock?.release();
    if (record.hostConfig.autoRemove) {
      const { removeFound } = await import("./remove.js");
      await removeFound(ctx, dir, { ...record, state: "exited" }, { force: true, volumes: true }).catch(() => undefined);
      trace("supervise: removed");
    }
  }
}

/**
 * Reserve the container's place on each of its networks (eth0 on the first, with the default
 * route; eth1… on the others). Every endpoint reserved lands in `into` (released at the end,
 * also when another network failed).
 */
async function attachAll(ctx: RuntimeContext, record: ContainerRecord, attachments: ReturnType<typeof attachedNetworks>, into: Array<Endpoint | RecordedEndpoint>): Promise<Endpoint[]> {
  const networks = attachments.map((a) => findNetwork(ctx.store, a.name));
  const dir = await ctx.store.containerDir(record.id);
  const settled = await Promise.allSettled(
    networks.map((network, i) =>
      attachContainer(ctx.runDir, network, { id: record.id, name: record.name, aliases: attachments[i]?.aliases ?? [], hostsFile: join(dir, "hosts"), containerDir: dir }, () => allNetworks(ctx.store), { ifname: `eth${i}`, defaultRoute: i === 0 }),
    ),
  );
  const out: Endpoint[] = [];
  for (const s of settled) if (s.status === "fulfilled") out.push(s.value);
  into.push(...out);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed !== undefined) throw failed.reason;
  return out;
}

/**
 * The end of a container whose holder (a foreground `berth run`, a detached supervisor) died
 * before it: run by the chain's shell with runc's exit code (see inMountNamespace). Records the
 * exit as the holder would have, and removes a --rm container. A container that is not
 * "running" any more was finished by someone else (`rm -f`): nothing to do.
 */
export async function finishOrphaned(ctx: RuntimeContext, id: string, exitCode: number): Promise<void> {
  const dir = await ctx.store.containerDir(id);
  let record = await readRecord(dir);
  if (record.state !== "running" || isAlive(record.supervisor)) return;
  const failure = exitCode !== 0 ? await runcFailure(join(dir, RUNC_LOG), id) : undefined;
  if (failure !== undefined) await ctx.runc.delete(id).catch(() => undefined);
  record = { ...record, state: "exited", exitCode: failure?.exitCode ?? exitCode, finishedAt: new Date().toISOString(), ...(failure !== undefined ? { error: failure.message } : {}) };
  containerEvent(ctx, record, "die", { exitCode: String(record.exitCode) });
  endpointEvents(ctx.store.root, "disconnect", record.endpoints ?? [], id);
  for (const ep of record.endpoints ?? []) releaseEndpoint(ep, id);
  delete record.endpoints;
  delete record.endpoint;
  delete record.pid;
  delete record.supervisor;
  delete record.runtime;
  if (record.hostConfig.autoRemove) {
    const { removeFound } = await import("./remove.js");
    await removeFound(ctx, dir, record, { force: true, volumes: true });
  } else await writeRecord(dir, record);
}

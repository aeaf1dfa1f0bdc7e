import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname, join } from "node:path";
import { RuntimeError } from "../errors.js";
import { hostBinaryPath } from "../runc.js";

/**
 * Outbound network access for a network namespace through a user-space stack, with nothing in
 * the host's own namespace (no bridge, no veth, no iptables rule): pasta (Debian's passt) or,
 * where it is missing, slirp4netns. Either gives the namespace an interface with the host's
 * address and default route (pasta) or 10.0.2.0/24 (slirp4netns), and relays its TCP and UDP
 * through ordinary sockets of this host. The host's loopback stays out of reach: pasta runs
 * with every port forwarding off (its defaults forward the namespace's 127.0.0.1 ports to the
 * host's, -T/-U auto) and --no-map-gw (the gateway address would reach the host's loopback);
 * slirp4netns with --disable-host-loopback (10.0.2.2).
 */
export type EgressStack = "pasta" | "slirp4netns";

export const EGRESS_STACKS: readonly EgressStack[] = ["pasta", "slirp4netns"];

/** The address pasta answers DNS on (--dns-forward), relayed to the host's first resolver; podman's choice. */
export const PASTA_DNS = "169.254.1.1";

/**
 * pasta's options that keep the host out of reach: no port forwarding either way (its defaults
 * would relay the namespace's 127.0.0.1 ports to the host's and bind its ports on the host) and
 * no gateway address mapped to the host's loopback.
 */
export const PASTA_CLOSED: readonly string[] = ["-t", "none", "-u", "none", "-T", "none", "-U", "none", "--no-map-gw"];
/** slirp4netns's built-in DNS relay. */
export const SLIRP_DNS = "10.0.2.3";

export interface EgressOptions {
  /**
   * The network namespace's path: /proc/<pid>/ns/net of a process with no capabilities (see
   * createNetns: pasta drops its own before it opens the path) or a bind mount of the namespace.
   */
  netns: string;
  /** A private directory: pasta writes its pid file there (its signal that it is ready). */
  runDir: string;
  /** Default: chooseEgressStack(). */
  stack?: EgressStack;
  /**
   * A DNS relay inside the namespace (Egress.nameserver), for hosts whose nameservers are all
   * loopback (systemd-resolved's 127.0.0.53, a local dnsmasq), which only answer in the host's
   * namespace. slirp4netns always has one (10.0.2.3); pasta only when asked (--dns-forward),
   * since it then answers as PASTA_DNS even to queries sent to the host's resolver itself, which
   * resolvers drop: with it, PASTA_DNS must be the namespace's only nameserver.
   */
  dnsRelay?: boolean;
  /** Relay IPv6 too (default IPv4 only, as Docker's default bridge network). */
  ipv6?: boolean;
  /** Give up when the stack is not ready in this time (default 20 s). */
  timeoutMs?: number;
}

export interface Egress {
  readonly stack: EgressStack;
  readonly pid: number;
  /** The DNS relay's address inside the namespace (to the host's first resolver), when it has one (dnsRelay). */
  readonly nameserver: string | undefined;
  /** Resolves, with what it said, if the stack exits before stop() is called. */
  readonly exited: Promise<string>;
  /** Stops the stack and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * The stack to use: $BERTH_NETWORK_STACK when set (pasta or slirp4netns), else pasta where it
 * is installed, else slirp4netns.
 */
export function chooseEgressStack(env: Readonly<Record<string, string | undefined>> = process.env): EgressStack {
  const forced = env.BERTH_NETWORK_STACK;
  if (forced !== undefined && forced !== "") {
    if (!(EGRESS_STACKS as readonly string[]).includes(forced)) {
      throw new RuntimeError(`BERTH_NETWORK_STACK=${forced}: want ${EGRESS_STACKS.join(" or ")}`);
    }
    return forced as EgressStack;
  }
  return hostBinaryPath("pasta") !== null ? "pasta" : "slirp4netns";
}

/**
 * Attaches a user-space stack to the namespace and resolves once its interface, address and
 * default route are configured. The stack is this process's child and dies with it (pasta by
 * PR_SET_PDEATHSIG through setpriv, slirp4netns by its --exit-fd pipe), so a SIGKILLed berth
 * leaves none behind.
 */
export async function attachEgress(options: EgressOptions): Promise<Egress> {
  const stack = options.stack ?? chooseEgressStack();
  const binary = stack === "pasta" ? "pasta" : "slirp4netns";
  if (hostBinaryPath(binary) === null) {
    throw new RuntimeError(`${binary} is not installed: the outside is reached through pasta (Debian's passt) or slirp4netns (apt-get install passt slirp4netns)`);
  }
  return stack === "pasta" ? attachPasta(options) : attachSlirp(options);
}

/** What a stack wrote on stderr, without the noise of a missing syslog socket. */
export function said(stderr: string): string {
  return stderr
    .split("\n")
    .filter((l) => l.trim() !== "" && !/^Failed to send \d+ bytes to syslog/.test(l))
    .join("; ");
}

/** A handle over a started stack: exit watching, stop, and the failure message. */
function handle(stack: EgressStack, child: ChildProcess, stderr: () => string, nameserver: string | undefined, onStop?: () => void): Egress & { failed: Promise<string> } {
  let stopping = false;
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const failed = new Promise<string>((resolve) => {
    child.once("error", (err) => resolve(err.message));
    child.once("exit", (code, signal) => {
      const why = said(stderr());
      resolve(`${stack} exited (${signal ?? `code ${code ?? "?"}`})${why !== "" ? `: ${why}` : ""}`);
    });
  });
  const exited = failed.then((why) => (stopping ? new Promise<string>(() => undefined) : why));
  exited.catch(() => undefined);
  return {
    stack,
    pid: child.pid ?? -1,
    nameserver,
    exited,
    failed,
    async stop() {
      stopping = true;
      onStop?.();
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
      await closed;
      clearTimeout(timer);
    },
  };
}

async function attachPasta(options: EgressOptions): Promise<Egress> {
  const pidFile = join(options.runDir, `pasta-${process.pid}-${Math.random().toString(36).slice(2, 8)}.pid`);
  const args = [
    "--foreground",
    // as root, pasta changes to nobody unless told, and nobody cannot open the namespace
    "--runas", "0",
    "--config-net",
    "--netns", options.netns,
    "--netns-only",
    ...PASTA_CLOSED,
    ...(options.dnsRelay === true ? ["--dns-forward", PASTA_DNS] : []),
    ...(options.ipv6 === true ? [] : ["--ipv4-only"]),
    "--quiet",
    "--pid", pidFile,
  ];
  // setpriv sets PR_SET_PDEATHSIG (pasta keeps it: it only drops capabilities and keeps uid 0);
  // sh checks that its parent is still berth, which closes the window before the prctl
  const child = spawn("setpriv", ["--pdeathsig", "KILL", "--", "sh", "-c", '[ "$PPID" = "$0" ] && exec "$@"', String(process.pid), "pasta", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const removePidFile = () => rmSync(pidFile, { force: true });
  const h = handle("pasta", child, () => stderr, options.dnsRelay === true ? PASTA_DNS : undefined, removePidFile);
  // Ready: pasta writes its pid file at the end of its start-up. It configures the namespace
  // (address, then default route) much earlier, ~40% into it, then builds its socket pools and
  // tables; when the namespace is a process's (/proc/<pid>/ns/net) its routing table shows the
  // default route from then on, and that is enough: packets sent meanwhile wait in the tap
  // device's queue until pasta reads it. Under load that was 100-300 ms sooner.
  const holder = /^\/proc\/(\d+)\/ns\/net$/.exec(options.netns)?.[1];
  const routeFile = holder === undefined ? undefined : options.ipv6 === true ? `/proc/${holder}/net/ipv6_route` : `/proc/${holder}/net/route`;
  const hasDefaultRoute = (): boolean => {
    if (routeFile === undefined) return false;
    try {
      const table = readFileSync(routeFile, "utf8");
      // route: "Iface Destination(hex) …" with 00000000; ipv6_route: a zero destination, prefix 00
      return options.ipv6 === true ? /^0{32} 00 /m.test(table) : /^\S+\t00000000\t/m.test(table);
    } catch {
      return false;
    }
  };
  const written = (): boolean => {
    try {
      return readFileSync(pidFile, "utf8").endsWith("\n");
    } catch {
      return false;
    }
  };
  let watcher: FSWatcher | undefined;
  let poll: NodeJS.Timeout | undefined;
  let timeout: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (hasDefaultRoute() || written()) resolve();
      };
      try {
        watcher = watch(dirname(pidFile), (_event, name) => {
          if (name === basename(pidFile)) check();
        });
      } catch {
        // no inotify: the poll below finds it
      }
      poll = setInterval(check, routeFile !== undefined ? 2 : 25);
      timeout = setTimeout(() => reject(new RuntimeError(`pasta did not set up the network in ${options.timeoutMs ?? 20_000} ms`)), options.timeoutMs ?? 20_000);
      void h.failed.then((why) => reject(new RuntimeError(`pasta could not set up the network: ${why}`)));
      check();
    });
  } catch (err) {
    await h.stop();
    throw err;
  } finally {
    watcher?.close();
    clearInterval(poll);
    clearTimeout(timeout);
  }
  // (the pid file may come later: stop() removes it)
  child.unref();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  return h;
}

async function attachSlirp(options: EgressOptions): Promise<Egress> {
  const args = [
    "--configure",
    "--mtu=65520",
    // 10.0.2.2 would be the host's loopback
    "--disable-host-loopback",
    ...(options.ipv6 === true ? ["--enable-ipv6"] : []),
    // its own mount namespace, every capability but CAP_NET_BIND_SERVICE dropped
    "--enable-sandbox",
    "--ready-fd=3",
    // exits when this pipe closes: when berth exits or dies
    "--exit-fd=4",
    "--netns-type=path",
    options.netns,
    "tap0",
  ];
  // in a private mount namespace: its sandbox's unmounts would otherwise reach the host's
  // shared mounts (run networks' and pooled sandboxes' namespace files, see sandbox-pool.ts)
  const child = spawn("unshare", ["--mount", "--propagation", "private", "slirp4netns", ...args], { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const h = handle("slirp4netns", child, () => stderr, SLIRP_DNS);
  const ready = child.stdio[3] as NodeJS.ReadableStream & { unref?: () => void };
  const exitPipe = child.stdio[4] as unknown as { unref?: () => void; destroy(): void };
  let timeout: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      ready.once("data", () => resolve());
      timeout = setTimeout(() => reject(new RuntimeError(`slirp4netns did not set up the network in ${options.timeoutMs ?? 20_000} ms`)), options.timeoutMs ?? 20_000);
      void h.failed.then((why) => reject(new RuntimeError(`slirp4netns could not set up the network: ${why}`)));
    });
  } catch (err) {
    await h.stop();
    throw err;
  } finally {
    clearTimeout(timeout);
  }
  ready.resume();
  child.unref();
  for (const s of [child.stderr, ready, exitPipe] as { unref?: () => void }[]) s.unref?.();
  return {
    ...h,
    async stop() {
      // closing the exit pipe is slirp4netns's own way out; stop() signals it too
      exitPipe.destroy();
      await h.stop();
    },
  };
}

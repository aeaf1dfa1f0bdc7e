import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { RuntimeError } from "./errors.js";
import { runProgram } from "./exec-file.js";
import { sealedCopy } from "../sys/sealed-copy.js";
import { isRootless } from "../sys/host-uid.js";

/** The state runc reports for a container (`runc state`). */
export interface RuncState {
  id: string;
  pid: number;
  status: "creating" | "created" | "running" | "paused" | "stopped";
  bundle: string;
}

/** The options runc's `exec` takes for a process joining a running container. */
export interface RuncExecOptions {
  args: string[];
  env?: string[];
  cwd?: string;
  user?: { uid: number; gid: number; additionalGids?: number[] };
  tty?: boolean;
  pidFile?: string;
}

/**
 * runc, driven through its command line with berth's own state directory (`--root`), so
 * berth's containers never mix with another tool's. Each call is one runc process.
 */
export class Runc {
  constructor(
    readonly stateRoot: string,
    readonly binary: string = process.env.BERTH_RUNTIME ?? "runc",
  ) {}

  private global(logFile?: string): string[] {
    return logFile === undefined ? ["--root", this.stateRoot] : ["--root", this.stateRoot, "--log", logFile, "--log-format", "json"];
  }

  /**
   * `runc run` in the foreground: runc stays the container's parent, forwards signals to it,
   * removes it when it exits and exits with its status (128+n for signal n).
   */
  spawnRun(id: string, bundle: string, options: { stdio: StdioOptions; logFile?: string; pidFile?: string }): ChildProcess {
    const [file, ...args] = this.runArgv(id, bundle, options);
    return spawn(file as string, args, { stdio: options.stdio, argv0: this.binary });
  }

  /** The argv of `runc run` (for chaining it behind a mount, see inMountNamespace). */
  runArgv(id: string, bundle: string, options: { logFile?: string; pidFile?: string; preserveFds?: number } = {}): string[] {
    const argv = [runtimeExecutable(this.binary), ...this.global(options.logFile), "run", "--bundle", bundle];
    if (options.preserveFds !== undefined && options.preserveFds > 0) argv.push("--preserve-fds", String(options.preserveFds));
    if (options.pidFile !== undefined) argv.push("--pid-file", options.pidFile);
    argv.push(id);
    return argv;
  }

  spawnExec(id: string, options: RuncExecOptions & { stdio: StdioOptions; logFile?: string }): ChildProcess {
    const args = [...this.global(options.logFile), "exec"];
    if (options.tty === true) args.push("--tty");
    if (options.cwd !== undefined && options.cwd !== "") args.push("--cwd", options.cwd);
    for (const e of options.env ?? []) args.push("--env", e);
    if (options.user !== undefined) {
      args.push("--user", `${options.user.uid}:${options.user.gid}`);
      for (const g of options.user.additionalGids ?? []) args.push("--additional-gids", String(g));
    }
    if (options.pidFile !== undefined) args.push("--pid-file", options.pidFile);
    args.push(id, ...options.args);
    return spawn(runtimeExecutable(this.binary), args, { stdio: options.stdio, argv0: this.binary });
  }

  /** Send a signal to the container's init; resolves false when the container is gone. */
  async kill(id: string, signal: string = "SIGTERM", all = false): Promise<boolean> {
    const args = [...this.global(), "kill"];
    // --all finds the processes through the container's cgroup, which rootless berth has not
    // got (runc then fails): SIGKILL to the init of the container's own pid namespace takes
    // every process in it anyway
    if (all && !isRootless()) args.push("--all");
    const r = await runProgram(this.binary, [...args, id, signal]);
    return r.code === 0;
  }

  /** Remove the container's runc state (and kill it first with force). Missing is fine. */
  async delete(id: string, force = true): Promise<void> {
    const r = await runProgram(this.binary, [...this.global(), "delete", ...(force ? ["--force"] : []), id]);
    if (r.code !== 0 && !/does not exist|not exist/.test(r.stderr)) {
      throw new RuntimeError(`runc delete ${id} failed: ${r.stderr.trim()}`, { container: id });
    }
  }

  /** The container's runc state, or undefined when runc does not know it. */
  async state(id: string): Promise<RuncState | undefined> {
    const r = await runProgram(this.binary, [...this.global(), "state", id], { captureStdout: true });
    if (r.code !== 0) return undefined;
    return JSON.parse(r.stdout) as RuncState;
  }

  /** `runc pause` / `runc resume`: freeze or thaw every process of the container (the freezer cgroup). */
  async freeze(id: string, frozen: boolean): Promise<void> {
    const r = await runProgram(this.binary, [...this.global(), frozen ? "pause" : "resume", id]);
    if (r.code !== 0) throw new RuntimeError(`runc ${frozen ? "pause" : "resume"} ${id} failed: ${r.stderr.trim()}`, { container: id });
  }

  /** `runc update`: change a running container's cgroup limits (flags as runc's: --memory, --cpu-quota…). */
  async update(id: string, flags: string[]): Promise<void> {
    const r = await runProgram(this.binary, [...this.global(), "update", ...flags, id]);
    if (r.code !== 0) throw new RuntimeError(`runc update ${id} failed: ${r.stderr.trim()}`, { container: id });
  }

  /** Every container in this state root. */
  async list(): Promise<RuncState[]> {
    const r = await runProgram(this.binary, [...this.global(), "list", "--format", "json"], { captureStdout: true });
    if (r.code !== 0) return [];
    const parsed = JSON.parse(r.stdout || "null") as RuncState[] | null;
    return parsed ?? [];
  }
}

const hostPaths = new Map<string, string | null>();

/** `binary` on the host: as given when it has a slash, else its first match on PATH; null when not found. */
export function hostBinaryPath(binary: string): string | null {
  let path = hostPaths.get(binary);
  if (path === undefined) {
    path = binary.includes("/") ? binary : (process.env.PATH ?? "").split(":").map((d) => join(d || ".", binary)).find((p) => existsSync(p)) ?? null;
    hostPaths.set(binary, path);
  }
  return path;
}

/** Runtimes whose sealed copy was asked for, and the path to exec each by once it is made. */
const sealing = new Set<string>();
const sealedPaths = new Map<string, string>();

/**
 * Starts a sealed in-memory copy of runc (the addon's sealedCopy), for the next containers to
 * start from (runtimeExecutable gives its path, /proc/<pid>/fd/<n>, once it is made). Nothing
 * where it cannot be made (no addon, another runtime, a failure): runc is exec'd as it is.
 *
 * Each `runc init` makes sure it does not run as the host's runc binary, which a container
 * could otherwise reopen through /proc/self/exe and overwrite (CVE-2019-5736): Debian's runc
 * 1.1 bind-mounts /proc/self/exe read-only in its state dir, remounts, unmounts and execs
 * itself a second time, dynamic loading included (on the path of every container). runc skips that when its /proc/self/exe is a
 * memfd with runc's seals, as cloned_binary.c documents: a sealed memfd cannot be written by
 * anyone. The copy (runc's size in shared memory, made on the thread pool) is made once per
 * berth process, by a caller that starts more than one container (a build). (A memfd cannot
 * be bind-mounted to outlive the process: mount(2) refuses a file of an internal mount.)
 */
export function sealRunc(binary: string): void {
  if (sealing.has(binary)) return;
  sealing.add(binary);
  const path = hostBinaryPath(binary);
  if (path === null || basename(binary) !== "runc") return;
  sealedCopy(path).then(
    (sealed) => {
      if (sealed !== undefined) sealedPaths.set(binary, sealed);
    },
    () => undefined,
  );
}

/** The path to exec runtime `binary` by: its sealed copy once sealRunc made one, else `binary`. */
export function runtimeExecutable(binary: string): string {
  return sealedPaths.get(binary) ?? binary;
}

/** Wait for a child and return its exit code (128+n when killed by signal n, as a shell reports it). */
export function exitCodeOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => {
      if (code !== null) resolve(code);
      else resolve(128 + (signal === null ? 0 : signalNumber(signal)));
    });
  });
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9,
  SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16,
  SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23,
  SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

export function signalNumber(name: string): number {
  return SIGNALS[name] ?? 0;
}

/**
 * Normalize a signal given by name (`TERM`, `SIGTERM`) or number (`15`) to runc's spelling
 * (`SIGTERM`); throws on an unknown signal.
 */
export function normalizeSignal(signal: string): string {
  const s = signal.trim().toUpperCase();
  if (/^[0-9]+$/.test(s)) {
    const n = Number(s);
    const name = Object.keys(SIGNALS).find((k) => SIGNALS[k] === n);
    if (name !== undefined) return name;
    if (n >= 34 && n <= 64) return s; // real-time signals: runc takes the number
  } else {
    const name = s.startsWith("SIG") ? s : `SIG${s}`;
    if (name in SIGNALS) return name;
  }
  throw new RuntimeError(`invalid signal: ${signal}`);
}

/**
 * runc's own failure (it failed to start the process, as opposed to the process exiting
 * non-zero), read from its JSON log, mapped to Docker's exit codes: 127 not found, 126 not
 * executable, 125 anything else.
 */
export async function runcFailure(logFile: string, id?: string): Promise<RuntimeError | undefined> {
  let text: string;
  try {
    text = await readFile(logFile, "utf8");
  } catch {
    return undefined;
  }
  let message: string | undefined;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === "error" || entry.level === "fatal") message = entry.msg;
    } catch {
      // a partial line from a killed runc: ignore
    }
  }
  if (message === undefined) return undefined;
  const text2 = message.replace(/^runc (run|exec|create|start) failed: /, "");
  let exitCode = 125;
  if (/executable file not found|no such file or directory/.test(text2)) exitCode = 127;
  else if (/permission denied|is a directory/.test(text2)) exitCode = 126;
  return new RuntimeError(text2, { exitCode, ...(id !== undefined ? { container: id } : {}) });
}

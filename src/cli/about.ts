import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { arch, cpus, release, totalmem } from "node:os";
import type { Command } from "commander";
import { humanSize, renderTemplate } from "./format.js";

const VERSION = "0.1.0";

/** What `runc --version` says first ("runc version 1.1.5+ds1" → "1.1.5+ds1"), or "not found". */
function runtimeVersion(binary: string): string {
  try {
    return /version\s+(\S+)/.exec(execFileSync(binary, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }))?.[1] ?? "unknown";
  } catch {
    return "not found";
  }
}

/** Docker's names for Node's architectures (GOARCH). */
function goArch(): string {
  return ({ x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm" } as Record<string, string>)[arch()] ?? arch();
}

/** cgroup v1, v2 or hybrid (v1 controllers with a cgroup2 mount beside them, as this kind of host has). */
function cgroupVersion(unified: (path?: string) => boolean): string {
  if (unified()) return "2";
  return unified("/sys/fs/cgroup/unified") ? "1 (hybrid: cgroup v2 mounted at /sys/fs/cgroup/unified)" : "1";
}

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "Linux";
  } catch {
    return "Linux";
  }
}

/** `berth version` and `berth info`, with Docker's layout and --format templates. */
export function registerAboutCommands(program: Command): void {
  program
    .command("version")
    .description("Show the berth version information")
    .option("-f, --format <format>", "format the output using a Go-like template (json for JSON)")
    .action((opts: { format?: string }) => {
      const runtime = process.env.BERTH_RUNTIME ?? "runc";
      const v = {
        Client: { Version: VERSION, NodeVersion: process.version, Os: "linux", Arch: goArch(), Daemonless: true },
        Runtime: { Name: runtime, Version: runtimeVersion(runtime) },
      };
      if (opts.format !== undefined) {
        process.stdout.write(`${renderTemplate(opts.format, v)}\n`);
        return;
      }
      process.stdout.write(
        [
          "Client:",
          ` Version:           ${v.Client.Version}`,
          ` Node.js version:   ${v.Client.NodeVersion}`,
          ` OS/Arch:           ${v.Client.Os}/${v.Client.Arch}`,
          " Daemon:            none (berth is daemonless: each command does its own work)",
          "",
          "Runtime:",
          ` ${v.Runtime.Name}:`,
          `  Version:          ${v.Runtime.Version}`,
          "",
        ].join("\n"),
      );
    });

  program
    .command("info")
    .description("Display system-wide information: mode, store and run paths, containers, images, runtime, cgroups, security")
    .option("-f, --format <format>", "format the output using a Go-like template (json for JSON)")
    .action(async (opts: { format?: string }, cmd: Command) => {
      const { openStore, resolveStoreRoot } = await import("../store/index.js");
      const { runtimeContext } = await import("../runtime/container/context.js");
      const { listContainers } = await import("../runtime/container/lookup.js");
      const { withLiveState } = await import("../runtime/container/record.js");
      const { chooseEgressStack } = await import("../runtime/network/egress.js");
      const { sandboxPool } = await import("../runtime/network/sandbox-pool.js");
      const { isCgroupUnified } = await import("../runtime/defaults.js");
      const { addonLoaded } = await import("../sys/addon.js");
      const { isRootless } = await import("../sys/host-uid.js");
      const { runRoot } = await import("../sys/run-root.js");
      const store = await openStore(resolveStoreRoot((cmd.optsWithGlobals() as { root?: string }).root));
      const ctx = runtimeContext(store);
      const containers = (await listContainers(ctx)).map((c) => withLiveState(c.record).state);
      const runtime = process.env.BERTH_RUNTIME ?? "runc";
      let stack: string;
      try {
        stack = chooseEgressStack();
      } catch (err) {
        stack = (err as Error).message;
      }
      const info = {
        Mode: isRootless() ? "rootless" : "rootful",
        StoreRoot: store.root,
        RunRoot: runRoot(),
        RunDir: ctx.runDir,
        Containers: containers.length,
        ContainersRunning: containers.filter((s) => s === "running").length,
        ContainersPaused: containers.filter((s) => (s as string) === "paused").length,
        ContainersStopped: containers.filter((s) => s !== "running" && (s as string) !== "paused").length,
        Images: (await store.listImages()).length,
        Driver: "overlay",
        Runtime: { Name: runtime, Version: runtimeVersion(runtime) },
        CgroupVersion: cgroupVersion(isCgroupUnified),
        SecurityOptions: ["name=seccomp,profile=builtin", ...(isRootless() ? ["name=rootless"] : []), ...(isCgroupUnified() ? ["name=cgroupns"] : [])],
        NetworkStack: stack,
        BuildSandboxPool: sandboxPool(),
        NativeAddon: addonLoaded(),
        KernelVersion: release(),
        OperatingSystem: osName(),
        OSType: "linux",
        Architecture: goArch(),
        NCPU: cpus().length,
        MemTotal: totalmem(),
        InitBinary: existsSync("/usr/bin/tini") ? "tini (/usr/bin/tini)" : "none (install tini for --init)",
      };
      await store.close();
      if (opts.format !== undefined) {
        process.stdout.write(`${renderTemplate(opts.format, info)}\n`);
        return;
      }
      process.stdout.write(
        [
          "Client:",
          ` Version:    ${VERSION}`,
          ` Mode:       ${info.Mode}`,
          "",
          "Store:",
          ` Containers: ${info.Containers}`,
          `  Running: ${info.ContainersRunning}`,
          `  Paused: ${info.ContainersPaused}`,
          `  Stopped: ${info.ContainersStopped}`,
          ` Images: ${info.Images}`,
          ` Storage Driver: ${info.Driver}`,
          ` Store Root: ${info.StoreRoot}`,
          ` Run Root: ${info.RunRoot}`,
          ` Run Dir: ${info.RunDir}`,
          ` Runtime: ${info.Runtime.Name} ${info.Runtime.Version}`,
          ` Cgroup Version: ${info.CgroupVersion}`,
          " Security Options:",
          ...info.SecurityOptions.map((o) => `  ${o}`),
          ` Network Stack: ${info.NetworkStack}`,
          ` Build Sandbox Pool: ${info.BuildSandboxPool}`,
          ` Native Addon: ${info.NativeAddon ? "loaded" : "not loaded (fallbacks in use)"}`,
          ` Init Binary: ${info.InitBinary}`,
          ` Kernel Version: ${info.KernelVersion}`,
          ` Operating System: ${info.OperatingSystem}`,
          ` OSType: ${info.OSType}`,
          ` Architecture: ${info.Architecture}`,
          ` CPUs: ${info.NCPU}`,
          ` Total Memory: ${humanSize(info.MemTotal)}`,
          "",
        ].join("\n"),
      );
    });
}

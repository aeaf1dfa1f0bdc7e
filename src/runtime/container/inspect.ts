import { join } from "node:path";
import { LOG_FILE } from "./logs.js";
import { isPaused } from "./pause.js";
import { formatPort } from "./ports.js";
import { isRestarting } from "./restart.js";
import { attachedNetworks, recordEndpoints, UNBRIDGED_MODES, type ContainerRecord } from "./record.js";

/** `berth inspect CONTAINER`: Docker's container JSON shape (the fields berth has). */
export function inspectContainer(record: ContainerRecord, dir: string): Record<string, unknown> {
  const restarting = isRestarting(record);
  const running = record.state === "running";
  const paused = running && isPaused(record);
  const endpoints = running ? recordEndpoints(record) : [];
  // the top-level address is the first network's (Docker shows the default bridge's there)
  const ep = endpoints[0];
  const ports: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of record.hostConfig.ports) {
    (ports[`${p.containerPort}/${p.protocol}`] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
  }
  return {
    Id: record.id,
    Created: record.created,
    Path: record.config.args[0],
    Args: record.config.args.slice(1),
    State: {
      Status: paused ? "paused" : restarting ? "restarting" : record.state,
      // Docker's restarting container is running, between two runs
      Running: running || restarting,
      Paused: paused,
      Restarting: restarting,
      OOMKilled: record.oomKilled === true,
      Dead: false,
      Pid: running ? (record.pid?.pid ?? 0) : 0,
      ExitCode: record.exitCode ?? 0,
      Error: record.error ?? "",
      StartedAt: record.startedAt ?? "0001-01-01T00:00:00Z",
      FinishedAt: record.finishedAt ?? "0001-01-01T00:00:00Z",
    },
    Image: record.imageId,
    LogPath: join(dir, LOG_FILE),
    Name: `/${record.name}`,
    RestartCount: record.restartCount,
    Driver: "overlay",
    HostConfig: {
      Binds: record.hostConfig.binds.filter((b) => b.type === "bind").map((b) => (b.type === "bind" ? `${b.source}:${b.destination}${b.readOnly === true ? ":ro" : ""}` : "")),
      NetworkMode: record.hostConfig.network,
      ExtraHosts: record.hostConfig.extraHosts ?? null,
      Dns: record.hostConfig.dns ?? [],
      DnsSearch: record.hostConfig.dnsSearch ?? [],
      PortBindings: ports,
      AutoRemove: record.hostConfig.autoRemove,
      RestartPolicy: { Name: record.hostConfig.restartPolicy?.name ?? "no", MaximumRetryCount: record.hostConfig.restartPolicy?.maximumRetryCount ?? 0 },
      Privileged: record.hostConfig.privileged,
      ReadonlyRootfs: record.hostConfig.readOnlyRootfs,
      Init: record.hostConfig.init,
      CapAdd: record.hostConfig.capAdd,
      CapDrop: record.hostConfig.capDrop,
      SecurityOpt: securityOpts(record),
      CgroupnsMode: record.hostConfig.cgroupns ?? "host",
      Memory: record.hostConfig.resources.memory ?? 0,
      NanoCpus: Math.round((record.hostConfig.resources.cpus ?? 0) * 1e9),
      PidsLimit: record.hostConfig.resources.pidsLimit ?? null,
    },
    GraphDriver: {
      Name: "overlay",
      Data: { LowerDir: record.snapshot.lowerDirs.join(":"), UpperDir: record.snapshot.upperDir, WorkDir: record.snapshot.workDir, MergedDir: join(dir, "rootfs") },
    },
    Mounts: [
      ...record.hostConfig.binds.map((b) =>
        b.type === "bind"
          ? { Type: "bind", Source: b.source, Destination: b.destination, RW: b.readOnly !== true }
          : { Type: "tmpfs", Source: "", Destination: b.destination, RW: !(b.type === "tmpfs" && (b.options ?? []).includes("ro")) },
      ),
      ...record.hostConfig.volumes.map((v) => ({ Type: "volume", Name: v.name, Destination: v.destination, RW: !v.readOnly })),
    ],
    Config: {
      Hostname: record.config.hostname,
      User: record.config.user,
      Tty: record.config.tty,
      OpenStdin: record.config.openStdin,
      Env: record.config.env,
      Cmd: record.config.cmd,
      Entrypoint: record.config.entrypoint.length > 0 ? record.config.entrypoint : null,
      Image: record.image,
      WorkingDir: record.config.cwd,
      Labels: record.config.labels,
      StopSignal: record.config.stopSignal,
    },
    NetworkSettings: {
      Ports: ports,
      PortsSummary: record.hostConfig.ports.map(formatPort),
      IPAddress: running ? (ep?.ip ?? "") : "",
      IPPrefixLen: running ? (ep?.prefix ?? 0) : 0,
      Gateway: running ? (ep?.gateway ?? "") : "",
      Networks: UNBRIDGED_MODES.includes(record.hostConfig.network)
        ? { [record.hostConfig.network]: { Aliases: null, NetworkID: "", IPAddress: "", Gateway: "", IPPrefixLen: 0 } }
        : Object.fromEntries(
            attachedNetworks(record.hostConfig).map((a) => {
              const on = endpoints.find((e) => e.network === a.name);
              return [a.name, { Aliases: a.aliases ?? null, NetworkID: on?.networkId ?? "", IPAddress: on?.ip ?? "", IPPrefixLen: on?.prefix ?? 0, Gateway: on?.gateway ?? "" }];
            }),
          ),
    },
  };
}

/** HostConfig.SecurityOpt: the --security-opt values as given (null when none, as Docker's). */
function securityOpts(record: ContainerRecord): string[] | null {
  // records from before berth kept the list knew only no-new-privileges
  const opts = record.hostConfig.securityOpt ?? (record.hostConfig.noNewPrivileges ? ["no-new-privileges"] : []);
  return opts.length > 0 ? opts : null;
}

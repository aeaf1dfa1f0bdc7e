import { platformOfConfig } from "../../image/platform.js";
import type { Platform } from "../../image/types.js";
import { checkEmulation } from "../emulation.js";
import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { hostname as osHostname } from "node:os";
import { isAbsolute, posix } from "node:path";
import { RuntimeError } from "../errors.js";
import { containerArgs } from "../command.js";
import { normalizeSignal } from "../runc.js";
import { defaultCgroupns } from "../defaults.js";
import { checkHostPortAllowed, checkLimitsAllowed } from "../rootless.js";
import { capabilitySet, type CgroupnsMode, type MountRequest, type NetworkMode, type ResourceLimits } from "../spec.js";
import type { RuntimeContext } from "./context.js";
import { listContainers } from "./lookup.js";
import { isValidName, randomName } from "./names.js";
import { DEFAULT_NETWORK, findNetwork } from "../network/records.js";
import { parsePortSpec } from "./ports.js";
import type { PortBinding } from "./record.js";
import { writeRecord, type ContainerRecord, type VolumeMount } from "./record.js";
import { isVolumeName } from "../../store/volumes.js";
import { containerEvent } from "./events.js";
import { parseSecurityOpts } from "./security-opts.js";
import { parseRestartPolicy } from "./restart.js";
import { parseMountSpec } from "./mount-spec.js";

/** What `berth create`/`berth run` take, already parsed from flags (values validated here). */
export interface CreateOptions {
  image: string;
  /** `--platform`: the image for it (of a multi-platform image), which must be of it */
  platform?: Platform;
  name?: string;
  cmd?: string[];
  entrypoint?: string;
  /** -e/--env-file entries in order: KEY=value, or KEY to take the host's value */
  env?: string[];
  hostEnv?: Readonly<Record<string, string | undefined>>;
  workdir?: string;
  user?: string;
  hostname?: string;
  tty?: boolean;
  interactive?: boolean;
  /** -v specs: host:ctr[:ro|rw], name:ctr[:ro|rw], or ctr (anonymous) */
  volumes?: string[];
  tmpfs?: string[];
  /** --mount specs (Docker's CSV form) */
  mounts?: string[];
  ports?: string[];
  /** -P: publish every exposed port (the image's EXPOSE and --expose) on a free host port */
  publishAll?: boolean;
  /** --expose port[-end][/proto] */
  expose?: string[];
  network?: NetworkMode;
  networkAliases?: string[];
  /** --add-host host:ip */
  addHosts?: string[];
  dns?: string[];
  dnsSearch?: string[];
  readOnly?: boolean;
  init?: boolean;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  /** no-new-privileges[=true|false], seccomp=unconfined, seccomp=PROFILE.json */
  securityOpt?: string[];
  /** default: Docker's, private on a unified (cgroup v2) host, else host */
  cgroupns?: CgroupnsMode;
  resources?: ResourceLimits;
  autoRemove?: boolean;
  /** --restart no|always|on-failure[:N]|unless-stopped */
  restart?: string;
  labels?: Record<string, string>;
  stopSignal?: string;
}

interface ParsedVolume { bind?: MountRequest; volume?: { name: string | undefined; destination: string; readOnly: boolean } }

function parseVolumeSpec(spec: string): ParsedVolume {
  const parts = spec.split(":");
  let mode = "rw";
  if (parts.length === 3 || (parts.length === 2 && /^(ro|rw)$/.test(parts[1] ?? "") && !(parts[1] ?? "").startsWith("/"))) {
    mode = parts.pop() as string;
  }
  if (!/^(ro|rw)$/.test(mode)) throw new RuntimeError(`invalid mode "${mode}" in -v ${spec}: want ro or rw`);
  const readOnly = mode === "ro";
  if (parts.length === 1) {
    const destination = parts[0] as string;
    if (!isAbsolute(destination)) throw new RuntimeError(`invalid -v ${spec}: the container path must be absolute`);
    return { volume: { name: undefined, destination: posix.normalize(destination), readOnly } };
  }
  if (parts.length !== 2) throw new RuntimeError(`invalid -v ${spec}: want host-path:container-path[:ro]`);
  const [source, destination] = parts as [string, string];
  if (!isAbsolute(destination)) throw new RuntimeError(`invalid -v ${spec}: the container path must be absolute`);
  if (destination === "/") throw new RuntimeError(`invalid -v ${spec}: cannot mount over /`);
  if (source.startsWith("/")) return { bind: { type: "bind", source: posix.normalize(source), destination: posix.normalize(destination), readOnly } };
  if (!isVolumeName(source)) {
    throw new RuntimeError(`invalid -v ${spec}: "${source}" is neither an absolute host path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)`);
  }
  return { volume: { name: source, destination: posix.normalize(destination), readOnly } };
}

/**
 * Create a container: resolve the image, compute its run config from the image and the
 * options (Docker's rules), prepare its rw snapshot, create its volumes, and write its
 * record. Nothing runs yet; bad options fail here, before anything is written.
 */
export async function createContainer(ctx: RuntimeContext, options: CreateOptions): Promise<ContainerRecord> {
  const image = await ctx.store.resolveImage(options.image, options.platform === undefined ? {} : { platform: options.platform });
  // a foreign image runs through QEMU: say how to get it before runc's "exec format error"
  checkEmulation(platformOfConfig(image.config), `image ${options.image}`);
  const config = image.config.config ?? {};
  const entrypoint = options.entrypoint !== undefined ? (options.entrypoint === "" ? [] : [options.entrypoint]) : (config.Entrypoint ?? []);
  const args = containerArgs(config, {
    ...(options.entrypoint !== undefined ? { entrypoint: options.entrypoint } : {}),
    ...(options.cmd !== undefined ? { cmd: options.cmd } : {}),
  });
  const cmd = args.slice(entrypoint.length);
  const network = options.network ?? DEFAULT_NETWORK;
  const bridged = !["none", "host", "private"].includes(network);
  // a user network must exist when the container is created (Docker: "network X not found")
  const userNetwork = bridged && network !== DEFAULT_NETWORK ? findNetwork(ctx.store, network) : undefined;
  if ((options.networkAliases ?? []).length > 0 && userNetwork === undefined) {
    throw new RuntimeError("network-scoped aliases are only supported for user-defined networks (--network-alias)");
  }
  const extraHosts = (options.addHosts ?? []).map(parseAddHost);
  for (const d of options.dns ?? []) {
    if (!isIP(d)) throw new RuntimeError(`invalid --dns ${d}: not an IP address`);
  }
  const ports = (options.ports ?? []).flatMap(publishedPorts);
  const exposed = [...Object.keys(config.ExposedPorts ?? {}).flatMap((p) => exposedPorts(p, "EXPOSE")), ...(options.expose ?? []).flatMap((p) => exposedPorts(p, "--expose"))];
  if (options.publishAll === true && bridged) {
    // Docker's -P: each exposed port without a -p binding gets a free host port (tcp only: berth proxies tcp)
    for (const port of new Set(exposed.filter((p) => p.protocol === "tcp").map((p) => p.port))) {
      if (!ports.some((b) => b.containerPort === port)) ports.push(...publishedPorts(String(port)));
    }
  }
  if (ports.length > 0 && (network === "none" || network === "host")) throw new RuntimeError(`ports cannot be published with --network ${network}`);
  if (options.name !== undefined && !isValidName(options.name)) {
    throw new RuntimeError(`Invalid container name (${options.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  if (options.workdir !== undefined && options.workdir !== "" && !options.workdir.startsWith("/")) {
    throw new RuntimeError(`the working directory '${options.workdir}' is invalid, it needs to be an absolute path`);
  }
  capabilitySet(options); // validates --cap-add/--cap-drop names now, not at start
  const security = parseSecurityOpts(options.securityOpt ?? []);
  const cgroupns = options.cgroupns ?? defaultCgroupns();
  if (cgroupns !== "private" && cgroupns !== "host") throw new RuntimeError(`invalid --cgroupns "${String(cgroupns)}": want private or host`);
  checkLimitsAllowed(options.resources ?? {});
  if (options.stopSignal !== undefined) normalizeSignal(options.stopSignal);
  const restartPolicy = options.restart !== undefined ? parseRestartPolicy(options.restart) : undefined;
  if (options.autoRemove === true && restartPolicy !== undefined && restartPolicy.name !== "no") {
    throw new RuntimeError("conflicting options: cannot specify both --restart and --rm");
  }
  const binds: MountRequest[] = [];
  const volumeRequests: Array<{ name: string | undefined; destination: string; readOnly: boolean }> = [];
  for (const spec of options.volumes ?? []) {
    const parsed = parseVolumeSpec(spec);
    if (parsed.bind !== undefined) binds.push(parsed.bind);
    if (parsed.volume !== undefined) volumeRequests.push(parsed.volume);
  }
  for (const t of options.tmpfs ?? []) {
    const [destination = "", opts] = t.split(":", 2);
    if (!isAbsolute(destination)) throw new RuntimeError(`invalid --tmpfs ${t}: the path must be absolute`);
    binds.push({ type: "tmpfs", destination, ...(opts !== undefined ? { options: ["nosuid", "nodev", "noexec", ...opts.split(",")] } : {}) });
  }
  for (const spec of options.mounts ?? []) {
    const parsed = parseMountSpec(spec);
    const destination = "request" in parsed ? parsed.request.destination : parsed.volume.destination;
    if ([...binds, ...volumeRequests].some((m) => m.destination === destination)) throw new RuntimeError(`Duplicate mount point: ${destination}`);
    if ("request" in parsed) binds.push(parsed.request);
    else volumeRequests.push(parsed.volume);
  }
  const taken = new Set([...binds.map((b) => b.destination), ...volumeRequests.map((v) => v.destination)]);
  for (const dest of Object.keys(config.Volumes ?? {})) {
    const d = posix.normalize(dest);
    if (!taken.has(d)) volumeRequests.push({ name: undefined, destination: d, readOnly: false });
  }

  const id = randomBytes(32).toString("hex");
  // Docker: a container on the host network has the host's name, others their short ID
  const hostname = options.hostname ?? (network === "host" ? osHostname() : id.slice(0, 12));
  const env = [...(config.Env ?? [])];
  for (const e of options.env ?? []) {
    const eq = e.indexOf("=");
    const key = eq < 0 ? e : e.slice(0, eq);
    const value = eq < 0 ? options.hostEnv?.[e] : e.slice(eq + 1);
    const at = env.findIndex((x) => x.startsWith(`${key}=`));
    if (value === undefined) {
      if (at >= 0) env.splice(at, 1);
      continue;
    }
    if (at >= 0) env[at] = `${key}=${value}`;
    else env.push(`${key}=${value}`);
  }

  // Names are unique without a store lock (the store's lock costs processes on every run):
  // write the record, then look; whoever finds another container with its name backs off —
  // in any interleaving the later writer sees the earlier one, so two never both keep a name.
  const conflict = (name: string, list: Array<{ record: ContainerRecord }>) => list.find((c) => c.record.name === name && c.record.id !== id);
  if (options.name !== undefined) {
    // fail fast, before a snapshot is made; a generated name is only checked after the write
    const holder = conflict(options.name, await listContainers(ctx));
    if (holder !== undefined) throw nameConflict(options.name, holder.record.id);
  }
  const volumes: VolumeMount[] = [];
  for (const v of volumeRequests) {
    const info = await ctx.store.createVolume(v.name, { anonymous: v.name === undefined });
    volumes.push({ name: info.Name, destination: v.destination, anonymous: v.name === undefined, readOnly: v.readOnly });
  }
  // a --rm container's rw layer goes when it exits: not worth an fsync
  const snapshot = await ctx.store.prepareSnapshot(image.layers.map((l) => l.diffId), { durable: options.autoRemove !== true });
  const dir = await ctx.store.containerDir(id, { create: true });
  let record: ContainerRecord = {
    id,
    name: options.name ?? randomName(new Set()),
    imageId: image.id,
    image: options.image,
    created: new Date().toISOString(),
    state: "created",
    config: {
      args,
      entrypoint,
      cmd,
      env,
      cwd: options.workdir !== undefined && options.workdir !== "" ? options.workdir : config.WorkingDir || "/",
      user: options.user ?? config.User ?? "",
      hostname,
      tty: options.tty === true,
      openStdin: options.interactive === true,
      stopSignal: options.stopSignal ?? config.StopSignal ?? "SIGTERM",
      labels: { ...(config.Labels ?? {}), ...(options.labels ?? {}) },
    },
    hostConfig: {
      // a user network by name, as Docker's NetworkMode (a rename of the network is not followed)
      network: userNetwork?.name ?? network,
      ...((options.networkAliases ?? []).length > 0 ? { networkAliases: options.networkAliases } : {}),
      ...(extraHosts.length > 0 ? { extraHosts } : {}),
      ...((options.dns ?? []).length > 0 ? { dns: options.dns } : {}),
      ...((options.dnsSearch ?? []).length > 0 ? { dnsSearch: options.dnsSearch } : {}),
      ports,
      binds,
      volumes,
      readOnlyRootfs: options.readOnly === true,
      init: options.init === true,
      privileged: options.privileged === true,
      capAdd: options.capAdd ?? [],
      capDrop: options.capDrop ?? [],
      noNewPrivileges: security.noNewPrivileges,
      securityOpt: security.securityOpt,
      ...(security.seccomp !== undefined ? { seccomp: security.seccomp } : {}),
      cgroupns,
      resources: options.resources ?? {},
      autoRemove: options.autoRemove === true,
      ...(restartPolicy !== undefined ? { restartPolicy } : {}),
    },
    snapshot,
    restartCount: 0,
  };
  for (let attempt = 0; ; attempt++) {
    await writeRecord(dir, record);
    const now = await listContainers(ctx);
    const holder = conflict(record.name, now);
    if (holder === undefined) {
      containerEvent(ctx, record, "create");
      return record;
    }
    if (options.name !== undefined || attempt >= 5) {
      await ctx.store.removeSnapshot(snapshot).catch(() => undefined);
      await ctx.store.removeContainerDir(id).catch(() => undefined);
      throw nameConflict(record.name, holder.record.id);
    }
    record = { ...record, name: randomName(new Set(now.map((c) => c.record.name))) };
  }
}

/** `--add-host host:ip` (or Docker's newer `host=ip`): kept as `host:ip`; the address is checked. */
function parseAddHost(spec: string): string {
  const sep = spec.includes("=") ? spec.indexOf("=") : spec.indexOf(":");
  const host = spec.slice(0, sep);
  let ip = spec.slice(sep + 1);
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  if (sep <= 0 || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(host) || isIP(ip) === 0) {
    throw new RuntimeError(`invalid --add-host ${spec}: want host:ip (e.g. db:10.0.0.5)`);
  }
  return `${host}:${ip}`;
}

/**
 * `-p 8080:80` without an address binds both 0.0.0.0 and [::], as Docker does (two listeners,
 * two lines in `ps`); `-p 127.0.0.1:8080:80` binds only what it names.
 */
function publishedPorts(spec: string): PortBinding[] {
  const binding = parsePortSpec(spec);
  checkHostPortAllowed(spec, binding.hostPort);
  const explicitIp = spec.split(":").length > 2 || spec.startsWith("[");
  return explicitIp ? [binding] : [binding, { ...binding, hostIp: "::" }];
}

/** An EXPOSE or --expose entry: `port[-end][/proto]` (Docker's ParsePortRange), every port of a range. */
function exposedPorts(spec: string, flag: string): Array<{ port: number; protocol: string }> {
  const slash = spec.indexOf("/");
  const range = slash < 0 ? spec : spec.slice(0, slash);
  const protocol = slash < 0 ? "tcp" : spec.slice(slash + 1).toLowerCase();
  const [startText = "", endText] = range.split(/-(.*)/s, 2);
  const port = (text: string, which: string): number => {
    if (text === "") throw new RuntimeError(`invalid range format for ${flag}: invalid ${which} port '': value is empty`);
    if (!/^[0-9]+$/.test(text)) throw new RuntimeError(`invalid range format for ${flag}: invalid ${which} port '${text}': invalid syntax`);
    const n = Number(text);
    if (n > 65535) throw new RuntimeError(`invalid range format for ${flag}: invalid ${which} port '${text}': value out of range`);
    return n;
  };
  const start = port(startText, "start");
  const end = endText === undefined ? start : port(endText, "end");
  if (end < start) throw new RuntimeError(`invalid range format for ${flag}: invalid port range: ${range}`);
  if (!["tcp", "udp", "sctp"].includes(protocol)) throw new RuntimeError(`invalid range format for ${flag}: invalid protocol '${protocol}'`);
  return Array.from({ length: end - start + 1 }, (_, i) => ({ port: start + i, protocol }));
}

function nameConflict(name: string, holder: string): RuntimeError {
  return new RuntimeError(`Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
}

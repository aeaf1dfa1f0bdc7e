import { spawn, type ChildProcess } from "node:child_process";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { RuntimeError } from "../errors.js";
import type { PortBinding } from "./record.js";

/**
 * Parse `-p [ip:]hostPort:containerPort[/tcp]` (or `containerPort` alone: a free host port).
 * Only TCP is proxied.
 */
export function parsePortSpec(spec: string): PortBinding {
  const bad = () => new RuntimeError(`invalid port specification: "${spec}" (want [ip:]hostPort:containerPort[/tcp])`);
  let body = spec;
  let protocol = "tcp";
  const slash = spec.lastIndexOf("/");
  if (slash >= 0) {
    body = spec.slice(0, slash);
    protocol = spec.slice(slash + 1).toLowerCase();
  }
  if (protocol !== "tcp") throw new RuntimeError(`unsupported protocol in "${spec}": berth publishes tcp ports only`);
  const parts = body.startsWith("[") ? [body.slice(1, body.indexOf("]")), ...body.slice(body.indexOf("]") + 2).split(":")] : body.split(":");
  let hostIp = "0.0.0.0";
  let host = "";
  let ctr: string;
  if (parts.length === 1) ctr = parts[0] as string;
  else if (parts.length === 2) [host, ctr] = parts as [string, string];
  else if (parts.length === 3) [hostIp, host, ctr] = parts as [string, string, string];
  else throw bad();
  const port = (s: string, allowZero: boolean) => {
    if (!/^[0-9]+$/.test(s)) throw bad();
    const n = Number(s);
    if (n > 65535 || (n === 0 && !allowZero)) throw bad();
    return n;
  };
  return { hostIp: hostIp === "" ? "0.0.0.0" : hostIp, hostPort: host === "" ? 0 : port(host, true), containerPort: port(ctr, false), protocol: "tcp" };
}

export function formatPort(p: PortBinding): string {
  return `${p.hostIp.includes(":") ? `[${p.hostIp}]` : p.hostIp}:${p.hostPort}->${p.containerPort}/${p.protocol}`;
}

/** Unix sockets join the two halves: the kernel lets a socket file be reached from any netns. */
export function proxySocketPath(runDir: string, id: string, containerPort: number): string {
  return `${runDir}/${id.slice(0, 12)}-${containerPort}.sock`;
}

/**
 * The host half of a published port: listeners bound in the host's network namespace before
 * the container starts (so a port in use fails the start with a clear error), forwarding each
 * connection to the inner half's unix socket.
 */
export class PortPublisher {
  private readonly servers: Server[] = [];
  private inner: ChildProcess | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly runDir: string, private readonly id: string) {}

  /** Bind every host port; returns the bindings with ports chosen for hostPort 0. */
  async bind(bindings: PortBinding[]): Promise<PortBinding[]> {
    const bound: PortBinding[] = [];
    for (const given of bindings) {
      // [::] beside 0.0.0.0 (`-p 8080:80`): the same port, picked by the IPv4 listener when 0
      const twin = given.hostIp === "::" && given.hostPort === 0 ? bound.find((p) => p.hostIp === "0.0.0.0" && p.containerPort === given.containerPort) : undefined;
      const b = twin !== undefined ? { ...given, hostPort: twin.hostPort } : given;
      const server = createServer((client) => this.forward(client, b.containerPort));
      const ok = await new Promise<boolean>((resolve, reject) => {
        server.once("error", (err: NodeJS.ErrnoException) =>
          // a host without IPv6 keeps its IPv4 listener, as Docker does
          b.hostIp === "::" && (err.code === "EAFNOSUPPORT" || err.code === "EADDRNOTAVAIL") ? resolve(false) : reject(
            err.code === "EADDRINUSE"
              ? new RuntimeError(`Bind for ${b.hostIp}:${b.hostPort} failed: port is already allocated`)
              : new RuntimeError(`cannot publish ${formatPort(b)}: ${err.message}`),
          ),
        );
        server.listen({ host: b.hostIp, port: b.hostPort, exclusive: true, ipv6Only: b.hostIp === "::" }, () => resolve(true));
      }).catch(async (err: unknown) => {
        await this.close();
        throw err;
      });
      if (!ok) continue;
      this.servers.push(server);
      const address = server.address();
      bound.push({ ...b, hostPort: typeof address === "object" && address !== null ? address.port : b.hostPort });
    }
    return bound;
  }

  /** Start the inner half in the container's network namespace (through nsenter) and wait until it listens. */
  async startInner(containerPid: number, bindings: PortBinding[]): Promise<void> {
    if (bindings.length === 0) return;
    const script = fileURLToPath(new URL("./proxy-inner.js", import.meta.url));
    const args = [`--net=/proc/${containerPid}/ns/net`, "--", process.execPath, script];
    // one socket per container port, however many host addresses forward to it
    for (const port of new Set(bindings.map((b) => b.containerPort))) args.push(`${proxySocketPath(this.runDir, this.id, port)}=${port}`);
    // the inner half exits when its stdin closes, i.e. when this process dies for any reason
    const inner = spawn("nsenter", args, { stdio: ["pipe", "pipe", "inherit"] });
    this.inner = inner;
    await new Promise<void>((resolve, reject) => {
      let out = "";
      inner.stdout?.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        if (out.includes("ready\n")) resolve();
      });
      inner.once("exit", (code) => reject(new RuntimeError(`the port proxy exited (code ${code}) before it was ready`)));
      inner.once("error", reject);
    });
  }

  private forward(client: Socket, containerPort: number, attempt = 0): void {
    this.sockets.add(client);
    client.once("close", () => this.sockets.delete(client));
    const upstream = createConnection(proxySocketPath(this.runDir, this.id, containerPort));
    upstream.once("connect", () => {
      client.pipe(upstream).on("error", () => upstream.destroy());
      upstream.pipe(client).on("error", () => client.destroy());
    });
    upstream.once("error", () => {
      // the inner half may still be starting: retry a few times before giving up
      if (attempt < 20 && !client.destroyed) setTimeout(() => this.forward(client, containerPort, attempt + 1), 50);
      else client.destroy();
    });
    upstream.once("close", () => client.end());
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.servers.length = 0;
    if (this.inner !== undefined && this.inner.exitCode === null) {
      const inner = this.inner;
      await new Promise<void>((resolve) => {
        inner.once("exit", () => resolve());
        inner.stdin?.end();
        setTimeout(() => inner.kill("SIGKILL"), 1000).unref();
      });
    }
  }
}

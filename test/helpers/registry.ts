import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createSign, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import bcrypt from "bcryptjs";

/**
 * A real CNCF distribution registry (Debian's `docker-registry`) on 127.0.0.1 with a free
 * port and a temporary storage directory, for integration tests and benchmarks:
 *
 * - `auth: "none"`: anonymous push and pull;
 * - `auth: "htpasswd"`: Basic auth against a bcrypt htpasswd file;
 * - `auth: "token"`: the bearer-token flow: the registry is configured with `auth: token`
 *   and trusts a self-signed certificate made here with openssl; a small node token server
 *   on 127.0.0.1 checks Basic credentials and signs RS256 JWTs with an `x5c` header.
 *
 * `stop()` kills the registry and the token server and removes the storage directory.
 */
export interface RegistryFixture {
  /** `127.0.0.1:<port>`, what a reference names. */
  host: string;
  url: string;
  storageDir: string;
  username: string;
  password: string;
  /** Token requests the token server answered (bearer variant), with the scopes asked for. */
  tokenRequests: { scopes: string[]; account: string | undefined; granted: boolean }[];
  stop(): Promise<void>;
}

export interface RegistryFixtureOptions {
  auth?: "none" | "htpasswd" | "token";
  username?: string;
  password?: string;
}

const REGISTRY_BIN = "/usr/bin/docker-registry";
const run = promisify(execFile);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function startRegistry(options: RegistryFixtureOptions = {}): Promise<RegistryFixture> {
  const auth = options.auth ?? "none";
  const username = options.username ?? "berth";
  const password = options.password ?? `pw-${randomBytes(6).toString("hex")}`;
  const dir = await mkdtemp(join(tmpdir(), "berth-registry-"));
  const storageDir = join(dir, "storage");
  const tokenRequests: RegistryFixture["tokenRequests"] = [];
  let tokenServer: http.Server | undefined;
  let authYaml = "";

  if (auth === "htpasswd") {
    const htpasswd = join(dir, "htpasswd");
    await writeFile(htpasswd, `${username}:${bcrypt.hashSync(password, 5)}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${htpasswd}\n`;
  } else if (auth === "token") {
    const keyPath = join(dir, "token.key");
    const certPath = join(dir, "token.crt");
    await run("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
      "-subj", "/CN=berth-test-token-issuer", "-keyout", keyPath, "-out", certPath,
    ]);
    const key = await readFile(keyPath, "utf8");
    const certPem = await readFile(certPath, "utf8");
    const certDer = certPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    const tokenPort = await freePort();
    tokenServer = startTokenServer({ key, certDer, username, password, tokenRequests });
    await new Promise<void>((resolve) => tokenServer?.listen(tokenPort, "127.0.0.1", resolve));
    authYaml =
      `auth:\n  token:\n    realm: http://127.0.0.1:${tokenPort}/token\n    service: berth-test-registry\n` +
      `    issuer: berth-test-issuer\n    rootcertbundle: ${certPath}\n`;
  }

  const port = await freePort();
  const config = join(dir, "config.yml");
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n` +
      `storage:\n  filesystem:\n    rootdirectory: ${storageDir}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n` +
      `http:\n  addr: 127.0.0.1:${port}\n  secret: ${randomBytes(16).toString("hex")}\n` +
      authYaml,
  );
  const child: ChildProcess = spawn(REGISTRY_BIN, ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const host = `127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    }
    if (tokenServer !== undefined) {
      tokenServer.closeAllConnections();
      await new Promise((resolve) => tokenServer?.close(resolve));
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForRegistry(host, child, () => stderr);
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, url: `http://${host}`, storageDir, username, password, tokenRequests, stop };
}

async function waitForRegistry(host: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr()}`);
    const status = await new Promise<number>((resolve) => {
      const req = http.get(`http://${host}/v2/`, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", () => resolve(0));
    });
    if (status === 200 || status === 401) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry on ${host} did not start: ${stderr()}`);
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

/**
 * The token server: Basic credentials must match (anonymous requests get a token granting
 * nothing, so the registry answers 401 insufficient_scope); granted tokens carry exactly the
 * scopes asked for.
 */
function startTokenServer(opts: {
  key: string;
  certDer: string;
  username: string;
  password: string;
  tokenRequests: RegistryFixture["tokenRequests"];
}): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/token") {
      res.writeHead(404).end();
      return;
    }
    const authz = req.headers.authorization;
    let account: string | undefined;
    if (authz?.startsWith("Basic ") === true) {
      const [user, ...rest] = Buffer.from(authz.slice(6), "base64").toString().split(":");
      if (user !== opts.username || rest.join(":") !== opts.password) {
        opts.tokenRequests.push({ scopes: url.searchParams.getAll("scope"), account: user, granted: false });
        res.writeHead(401, { "Content-Type": "application/json" }).end(JSON.stringify({ details: "wrong credentials" }));
        return;
      }
      account = user;
    }
    const scopes = url.searchParams.getAll("scope");
    opts.tokenRequests.push({ scopes, account, granted: account !== undefined });
    const access =
      account === undefined
        ? []
        : scopes.map((s) => {
            const [type, ...restParts] = s.split(":");
            const actions = restParts.pop() ?? "";
            return { type, name: restParts.join(":"), actions: actions.split(",") };
          });
    const now = Math.floor(Date.now() / 1000);
    const headerPart = base64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [opts.certDer] }));
    const claims = base64url(
      JSON.stringify({
        iss: "berth-test-issuer",
        sub: account ?? "",
        aud: url.searchParams.get("service") ?? "",
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access,
      }),
    );
    const signer = createSign("RSA-SHA256");
    signer.update(`${headerPart}.${claims}`);
    const token = `${headerPart}.${claims}.${signer.sign(opts.key).toString("base64url")}`;
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
}

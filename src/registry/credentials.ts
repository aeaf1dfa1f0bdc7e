import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { RegistryError } from "./errors.js";
import { DOCKER_HUB } from "./remote-reference.js";

/** What a registry login holds. A user/password pair, or an OAuth2 refresh token (`identitytoken`). */
export interface Credentials {
  username?: string;
  password?: string;
  /** Docker's `identitytoken`: a refresh token exchanged at the token endpoint. */
  identityToken?: string;
}

/** Looks up the credentials for a registry host (e.g. `127.0.0.1:5000`, `docker.io`). */
export type CredentialLookup = (registry: string) => Promise<Credentials | undefined>;

/** Docker's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG !== undefined && env.DOCKER_CONFIG !== "" ? env.DOCKER_CONFIG : join(homedir(), ".docker");
  return join(dir, "config.json");
}

/** The `auths` key Docker uses for a registry: Docker Hub keeps its historical v1 URL. */
export function authsKey(registry: string): string {
  return registry === DOCKER_HUB ? "https://index.docker.io/v1/" : registry;
}

/** `https://host:port/v1/` and `host:port` name the same registry in `auths`. */
function normaliseKey(key: string): string {
  const bare = key.replace(/^[a-z]+:\/\//, "").replace(/\/.*$/, "");
  return bare === "index.docker.io" || bare === "registry-1.docker.io" ? DOCKER_HUB : bare;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  /** A credential helper for every registry (`docker-credential-<name>`). */
  credsStore?: string;
  /** Per-registry credential helpers. */
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/** The credential helper Docker would use for a registry: its credHelpers entry, else credsStore. */
function helperFor(config: DockerConfig, registry: string): string | undefined {
  const wanted = normaliseKey(registry);
  for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
    if (normaliseKey(key) === wanted && helper !== "") return helper;
  }
  return config.credsStore !== undefined && config.credsStore !== "" ? config.credsStore : undefined;
}

/**
 * Runs `docker-credential-<helper> <action>` with `input` on stdin (Docker's credential-helper
 * protocol); resolves stdout, or undefined when the helper says it has no credentials.
 */
function runHelper(helper: string, action: "get" | "store" | "erase", input: string, registry: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const child = execFile(`docker-credential-${helper}`, [action], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout);
      const text = `${stdout}${stderr}`;
      if (action !== "store" && /credentials not found/i.test(text)) return resolve(undefined);
      reject(new RegistryError("unauthorized", registry, `credential helper docker-credential-${helper} ${action} failed: ${text.trim() || err.message}`, { cause: err }));
    });
    child.stdin?.end(input);
  });
}

async function readConfig(path: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw err;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not a JSON object");
    return parsed as DockerConfig;
  } catch (err) {
    throw new RegistryError("protocol", path, `cannot read Docker config: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes the config through a temp file (mode 0600 from the start) so a crash leaves the old one. */
async function writeConfig(path: string, config: DockerConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  const fh = await open(tmp, "wx", 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(config, null, "\t")}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

function decodeEntry(entry: AuthEntry): Credentials | undefined {
  const creds: Credentials = {};
  if (entry.auth !== undefined && entry.auth !== "") {
    const text = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = text.indexOf(":");
    if (colon > 0) {
      creds.username = text.slice(0, colon);
      creds.password = text.slice(colon + 1);
    }
  } else if (entry.username !== undefined) {
    creds.username = entry.username;
    creds.password = entry.password ?? "";
  }
  if (entry.identitytoken !== undefined && entry.identitytoken !== "") creds.identityToken = entry.identitytoken;
  return creds.username === undefined && creds.identityToken === undefined ? undefined : creds;
}

/** Credentials for a registry from the Docker config file (matching `host`, `https://host/...`). */
export async function readCredentials(registry: string, path = dockerConfigPath()): Promise<Credentials | undefined> {
  const config = await readConfig(path);
  const helper = helperFor(config, registry);
  if (helper !== undefined) {
    const out = await runHelper(helper, "get", authsKey(registry), registry);
    if (out !== undefined) {
      let got: { Username?: string; Secret?: string };
      try {
        got = JSON.parse(out) as typeof got;
      } catch (err) {
        throw new RegistryError("protocol", registry, `credential helper docker-credential-${helper} answered with invalid JSON`, { cause: err });
      }
      // Docker's convention: the user name "<token>" marks an identity (refresh) token.
      if (got.Username === "<token>" && got.Secret !== undefined) return { identityToken: got.Secret };
      if (got.Username !== undefined && got.Username !== "") return { username: got.Username, password: got.Secret ?? "" };
    }
  }
  const wanted = normaliseKey(registry);
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (normaliseKey(key) === wanted) {
      const creds = decodeEntry(entry);
      if (creds !== undefined) return creds;
    }
  }
  return undefined;
}

/** A CredentialLookup over the Docker config file. */
export function dockerConfigCredentials(path = dockerConfigPath()): CredentialLookup {
  return (registry) => readCredentials(registry, path);
}

/** Stores a login as Docker does (`auths[key].auth = base64(user:password)`), keeping the rest of the file. */
export async function storeCredentials(registry: string, creds: Credentials, path = dockerConfigPath()): Promise<void> {
  const config = await readConfig(path);
  const helper = helperFor(config, registry);
  if (helper !== undefined) {
    // As Docker does: the secret goes to the helper, the file keeps no copy of it.
    const username = creds.identityToken !== undefined ? "<token>" : (creds.username ?? "");
    const secret = creds.identityToken ?? creds.password ?? "";
    await runHelper(helper, "store", JSON.stringify({ ServerURL: authsKey(registry), Username: username, Secret: secret }), registry);
    return;
  }
  const auths: Record<string, AuthEntry> = { ...(config.auths ?? {}) };
  const wanted = normaliseKey(registry);
  for (const key of Object.keys(auths)) if (normaliseKey(key) === wanted) delete auths[key];
  const entry: AuthEntry = {};
  if (creds.username !== undefined) entry.auth = Buffer.from(`${creds.username}:${creds.password ?? ""}`).toString("base64");
  if (creds.identityToken !== undefined) entry.identitytoken = creds.identityToken;
  auths[authsKey(registry)] = entry;
  await writeConfig(path, { ...config, auths });
}

/** Removes a registry's login; false when there was none. */
export async function removeCredentials(registry: string, path = dockerConfigPath()): Promise<boolean> {
  const config = await readConfig(path);
  const helper = helperFor(config, registry);
  if (helper !== undefined) await runHelper(helper, "erase", authsKey(registry), registry);
  const auths: Record<string, AuthEntry> = { ...(config.auths ?? {}) };
  const wanted = normaliseKey(registry);
  let removed = false;
  for (const key of Object.keys(auths)) {
    if (normaliseKey(key) === wanted) {
      delete auths[key];
      removed = true;
    }
  }
  if (removed) await writeConfig(path, { ...config, auths });
  return removed || helper !== undefined;
}

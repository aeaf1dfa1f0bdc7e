import type { Command } from "commander";
import { UsageError } from "../errors.js";

/** `--tls-verify=false` / `--tls-verify false` / `--tls-verify` (Podman's spelling). */
function parseBool(flag: string): (value: string) => boolean {
  return (value) => {
    if (value === "true" || value === "1") return true;
    if (value === "false" || value === "0") return false;
    throw new UsageError(`invalid value ${JSON.stringify(value)} for ${flag}: want true or false`);
  };
}

/** Registries that may be plain http: `BERTH_INSECURE_REGISTRIES=host:port,host2` (loopback always may). */
export function insecureRegistriesFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.BERTH_INSECURE_REGISTRIES ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** `docker login` accepts `https://host/v1/` and `host`; both mean the host. */
export function registryHost(arg: string | undefined): string {
  if (arg === undefined || arg === "") return "docker.io";
  const bare = arg.replace(/^[a-z]+:\/\//, "").replace(/\/.*$/, "");
  if (bare === "" || /\s/.test(bare)) throw new UsageError(`invalid registry ${JSON.stringify(arg)}`);
  return bare === "index.docker.io" || bare === "registry-1.docker.io" ? "docker.io" : bare;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

async function prompt(question: string, secret: boolean): Promise<string> {
  const { createInterface } = await import("node:readline");
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (secret) {
    // Echo nothing of what is typed after the question.
    const out = rl as unknown as { _writeToOutput?: (s: string) => void };
    let asked = false;
    out._writeToOutput = (s: string): void => {
      if (!asked) {
        process.stderr.write(s);
        asked = true;
      }
    };
  }
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      rl.close();
      if (secret) process.stderr.write("\n");
      resolve(answer);
    });
  });
}

export function registerRegistryCommands(program: Command): void {
  program
    .command("login")
    .description("Log in to a registry (credentials kept in Docker's config.json format)")
    .argument("[registry]", "registry host[:port] (default: Docker Hub)")
    .option("-u, --username <name>", "username")
    .option("-p, --password <password>", "password (prefer --password-stdin)")
    .option("--password-stdin", "read the password from standard input")
    .option("--tls-verify [bool]", "verify TLS certificates (false: allow plain http)", parseBool("--tls-verify"), true)
    .action(async (registryArg: string | undefined, opts: { username?: string; password?: string; passwordStdin?: boolean; tlsVerify: boolean }) => {
      const { RegistryClient, storeCredentials, dockerConfigPath } = await import("../registry/index.js");
      const registry = registryHost(registryArg);
      if (opts.password !== undefined && opts.passwordStdin === true) throw new UsageError("--password and --password-stdin are mutually exclusive");
      let username = opts.username;
      let password = opts.password;
      if (opts.passwordStdin === true) {
        if (username === undefined) throw new UsageError("--password-stdin needs --username");
        password = await readStdin();
      }
      if (username === undefined) {
        if (process.stdin.isTTY !== true) throw new UsageError("no username: use --username (and --password-stdin)");
        username = await prompt("Username: ", false);
      }
      if (password === undefined) {
        if (process.stdin.isTTY !== true) throw new UsageError("no password: use --password-stdin");
        password = await prompt("Password: ", true);
      }
      if (username === "" || password === "") throw new UsageError("username and password must not be empty");
      const client = new RegistryClient({ tlsVerify: opts.tlsVerify, insecureRegistries: insecureRegistriesFromEnv(), credentials: async () => ({ username, password }) });
      try {
        await client.login(registry, { username, password });
      } finally {
        client.close();
      }
      await storeCredentials(registry, { username, password });
      process.stdout.write(`Login Succeeded (credentials in ${dockerConfigPath()})\n`);
    });

  program
    .command("logout")
    .description("Remove a registry's stored credentials")
    .argument("[registry]", "registry host[:port] (default: Docker Hub)")
    .action(async (registryArg: string | undefined) => {
      const { removeCredentials } = await import("../registry/index.js");
      const registry = registryHost(registryArg);
      const removed = await removeCredentials(registry);
      process.stdout.write(removed ? `Removing login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
    });
}

import type { Command } from "commander";
import { BerthError, UsageError } from "../errors.js";
import { RegistryError } from "../registry/errors.js";
import type { ProgressCallback, TransferState } from "../registry/index.js";
import { humanSize, parseBool } from "./format.js";
import { recordEvent } from "../store/events.js";

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

  program
    .command("pull")
    .description("Pull an image from a registry into the store")
    .argument("<image>", "[registry/]repository[:tag|@digest]")
    .option("--platform <os/arch[/variant]>", "the platform to pick from a multi-platform image (default: this machine's)")
    .option("--all-platforms", "pull every platform of a multi-platform image, and keep its index")
    .option("--tls-verify [bool]", "verify TLS certificates (false: allow plain http)", parseBool("--tls-verify"), true)
    .option("-q, --quiet", "print only the image reference")
    .action(async (image: string, opts: { platform?: string; allPlatforms?: boolean; tlsVerify: boolean; quiet?: boolean }, cmd: Command) => {
      const [{ RegistryClient, parseRemoteReference, parsePlatform, pullImage, pullAllPlatforms, formatRemoteReference }, { openStore }] = await Promise.all([
        import("../registry/index.js"),
        import("../store/index.js"),
      ]);
      const ref = parseRemoteReference(image);
      const platform = opts.platform !== undefined ? parsePlatform(opts.platform) : undefined;
      if (platform !== undefined && opts.allPlatforms === true) throw new UsageError("--platform and --all-platforms cannot be used together");
      const store = await openStore(rootOption(cmd));
      const client = new RegistryClient({ tlsVerify: opts.tlsVerify, insecureRegistries: insecureRegistriesFromEnv() });
      try {
        const quiet = opts.quiet === true;
        if (!quiet) process.stderr.write(`${ref.tag ?? ref.digest ?? "latest"}: Pulling from ${ref.registry}/${ref.repository}\n`);
        const result = opts.allPlatforms === true
          ? await pullAllPlatforms(client, store, ref, { onProgress: plainProgress(quiet) })
          : await pullImage(client, store, ref, { platform, onProgress: plainProgress(quiet) });
        imageEvent(store.root, "pull", formatRemoteReference(ref));
        if (!quiet) {
          process.stdout.write(`Digest: ${result.manifestDigest}\n`);
          process.stdout.write(result.layersFetched > 0 ? `Status: Downloaded newer image for ${formatRemoteReference(ref)}\n` : `Status: Image is up to date for ${formatRemoteReference(ref)}\n`);
        }
        process.stdout.write(`${formatRemoteReference(ref)}\n`);
      } finally {
        client.close();
      }
    });

  program
    .command("search")
    .description("Search a registry for images: Docker Hub's search API, or another registry's /v2/_catalog")
    .argument("<term>", "what to look for; REGISTRY/TERM searches that registry")
    .option("--limit <n>", "max number of search results", "25")
    .option("-f, --filter <filter>", "filter output: stars=N, is-official=true|false (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
    .option("--format <format>", "pretty-print search using a Go template, or json")
    .option("--no-trunc", "don't truncate output")
    .option("--tls-verify [bool]", "verify TLS certificates (false: allow plain http)", parseBool("--tls-verify"), true)
    .action(async (given: string, opts: { limit: string; filter?: string[]; format?: string; trunc: boolean; tlsVerify: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit)) throw new UsageError(`invalid argument ${JSON.stringify(opts.limit)} for "--limit" flag: want a number`);
      if (limit < 1 || limit > 100) throw new BerthError(`limit ${limit} is outside the range of [1, 100]`, { exitCode: 1 });
      const keep = searchFilter(opts.filter ?? []);
      const { RegistryClient } = await import("../registry/index.js");
      const { registry, term } = splitSearchTerm(given);
      const client = new RegistryClient({ tlsVerify: opts.tlsVerify, insecureRegistries: insecureRegistriesFromEnv() });
      let results: SearchResult[];
      try {
        if (registry === "docker.io") {
          results = (await client.searchHub(term, limit)).map((r) => ({ name: r.name, description: r.description ?? "", stars: r.star_count ?? 0, official: r.is_official === true }));
        } else {
          const names = await client.catalog(registry).catch((err: unknown) => {
            // a registry without the optional catalog: neither listing nor Docker Hub's v1 search
            if (err instanceof RegistryError && (err.kind === "not-found" || err.kind === "unsupported" || err.kind === "protocol")) {
              throw new RegistryError(err.kind, registry, `cannot search ${registry}: it offers no catalog (/v2/_catalog) to search`, err.status === undefined ? {} : { status: err.status });
            }
            throw err;
          });
          const needle = term.toLowerCase();
          results = names.filter((n) => n.toLowerCase().includes(needle)).map((n) => ({ name: `${registry}/${n}`, description: "", stars: 0, official: false }));
        }
      } finally {
        client.close();
      }
      const rows = results.filter(keep).slice(0, limit);
      const { ellipsis, formatRows } = await import("./format.js");
      const description = (d: string): string => {
        const flat = d.replace(/[\r\n]/g, " ");
        return opts.trunc ? ellipsis(flat, 45) : flat;
      };
      if (opts.format === "json") {
        process.stdout.write(rows.map((r) => `${JSON.stringify({ Description: description(r.description), IsOfficial: String(r.official), Name: r.name, StarCount: String(r.stars) })}\n`).join(""));
        return;
      }
      const format = opts.format === undefined || opts.format === "" || opts.format === "table" ? "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}" : opts.format;
      const view = rows.map((r) => ({ Name: r.name, Description: description(r.description), StarCount: String(r.stars), IsOfficial: r.official ? "[OK]" : "" }));
      process.stdout.write(formatRows(format, view, { Name: "NAME", Description: "DESCRIPTION", StarCount: "STARS", IsOfficial: "OFFICIAL" }));
    });

  program
    .command("manifest")
    .description("Inspect image manifests and indexes in a registry")
    .command("inspect")
    .description("Print a reference's manifest or image index, as the registry has it")
    .argument("<image>", "[registry/]repository[:tag|@digest]")
    .option("--tls-verify [bool]", "verify TLS certificates (false: allow plain http)", parseBool("--tls-verify"), true)
    .option("--insecure", "allow plain http (docker manifest's flag)")
    .action(async (image: string, opts: { tlsVerify: boolean; insecure?: boolean }) => {
      const { RegistryClient, parseRemoteReference, manifestSelector } = await import("../registry/index.js");
      const ref = parseRemoteReference(image);
      const client = new RegistryClient({ tlsVerify: opts.tlsVerify && opts.insecure !== true, insecureRegistries: insecureRegistriesFromEnv() });
      try {
        const raw = await client.fetchManifest(ref, manifestSelector(ref));
        // docker/cli's manifest inspect: the registry's JSON, indented with tabs
        process.stdout.write(`${JSON.stringify(JSON.parse(raw.bytes.toString("utf8")), null, "\t")}\n`);
      } finally {
        client.close();
      }
    });

  program
    .command("push")
    .description("Push an image from the store to a registry")
    .argument("<image>", "[registry/]repository[:tag], a tag in the store")
    .option("--tls-verify [bool]", "verify TLS certificates (false: allow plain http)", parseBool("--tls-verify"), true)
    .option("--chunk-size <bytes>", "upload blobs in resumable chunks of this size (default: one request per blob)")
    .option("-q, --quiet", "print only the manifest digest")
    .action(async (image: string, opts: { tlsVerify: boolean; chunkSize?: string; quiet?: boolean }, cmd: Command) => {
      const [{ RegistryClient, parseRemoteReference, pushStoredTag }, { openStore }] = await Promise.all([
        import("../registry/index.js"),
        import("../store/index.js"),
      ]);
      const ref = parseRemoteReference(image);
      if (ref.digest !== undefined) throw new UsageError(`push ${image}: push a tag, not a digest`);
      let chunkSize: number | undefined;
      if (opts.chunkSize !== undefined) {
        chunkSize = Number(opts.chunkSize);
        if (!Number.isSafeInteger(chunkSize) || chunkSize < 1024) throw new UsageError(`invalid --chunk-size ${JSON.stringify(opts.chunkSize)}: want a byte count of at least 1024`);
      }
      const store = await openStore(rootOption(cmd));
      const client = new RegistryClient({ tlsVerify: opts.tlsVerify, insecureRegistries: insecureRegistriesFromEnv() });
      try {
        const quiet = opts.quiet === true;
        if (!quiet) process.stderr.write(`The push refers to repository [${ref.registry}/${ref.repository}]\n`);
        const result = await pushStoredTag(client, store, image, ref, { chunkSize, onProgress: plainProgress(quiet) });
        imageEvent(store.root, "push", image);
        process.stdout.write(quiet ? `${result.manifestDigest}\n` : `${ref.tag ?? "latest"}: digest: ${result.manifestDigest}\n`);
      } finally {
        client.close();
      }
    });
}

/** Docker's pull and push events: the reference as the actor, its name without the tag as `name`. */
function imageEvent(root: string, action: "pull" | "push", ref: string): void {
  const at = ref.indexOf("@");
  const name = at >= 0 ? ref.slice(0, at) : ref.replace(/:[^:/]*$/, "");
  recordEvent(root, "image", action, ref, { name });
}

/** docker/cli's splitReposSearchTerm: a term whose first part names a host (a dot, a port, localhost) searches that registry. */
export function splitSearchTerm(term: string): { registry: string; term: string } {
  const slash = term.indexOf("/");
  const first = slash < 0 ? term : term.slice(0, slash);
  if (slash < 0 || (!first.includes(".") && !first.includes(":") && first !== "localhost")) return { registry: "docker.io", term };
  return { registry: registryHost(first), term: term.slice(slash + 1) };
}

interface SearchResult {
  name: string;
  description: string;
  stars: number;
  official: boolean;
}

/** `--filter stars=N|is-official=BOOL|is-automated=BOOL` as moby's search reads them. */
function searchFilter(filters: readonly string[]): (r: SearchResult) => boolean {
  const tests: Array<(r: SearchResult) => boolean> = [];
  for (const f of filters) {
    const eq = f.indexOf("=");
    const key = eq < 0 ? f : f.slice(0, eq);
    const value = eq < 0 ? "" : f.slice(eq + 1);
    if (key === "stars") {
      if (!/^\d+$/.test(value)) throw new BerthError(`invalid filter 'stars=${value}'`, { exitCode: 1 });
      tests.push((r) => r.stars >= Number(value));
    } else if (key === "is-official" || key === "is-automated") {
      if (!/^(true|false|1|0)$/i.test(value)) throw new BerthError(`invalid filter '${key}=${value}'`, { exitCode: 1 });
      const want = /^(true|1)$/i.test(value);
      if (key === "is-automated") process.stderr.write('WARNING: the "is-automated" filter is deprecated, and searching for "is-automated=true" will not yield any results in future.\n');
      tests.push(key === "is-official" ? (r) => r.official === want : () => !want);
    } else throw new BerthError(`invalid filter '${key}'`, { exitCode: 1 });
  }
  return (r) => tests.every((t) => t(r));
}

/** The global `--root` option, wherever commander put it. */
function rootOption(cmd: Command): string | undefined {
  const opts = cmd.optsWithGlobals<{ root?: string }>();
  return opts.root;
}

/**
 * Docker-like plain progress on stderr: one line per layer state change (`<id>: Pull complete`),
 * the finished ones with the layer's size and the average rate.
 */
/** The pull `run --pull` makes, with `berth pull`'s lines on stderr (the container's output owns stdout). */
export async function pullForRun(store: import("../store/store.js").Store, image: string, platform?: import("../image/types.js").Platform): Promise<void> {
  const { RegistryClient, parseRemoteReference, pullImage, formatRemoteReference } = await import("../registry/index.js");
  const ref = parseRemoteReference(image);
  const client = new RegistryClient({ insecureRegistries: insecureRegistriesFromEnv() });
  try {
    process.stderr.write(`${ref.tag ?? ref.digest ?? "latest"}: Pulling from ${ref.registry}/${ref.repository}\n`);
    const result = await pullImage(client, store, ref, { ...(platform !== undefined ? { platform } : {}), onProgress: plainProgress(false) });
    imageEvent(store.root, "pull", formatRemoteReference(ref));
    process.stderr.write(`Digest: ${result.manifestDigest}\n`);
    process.stderr.write(result.layersFetched > 0 ? `Status: Downloaded newer image for ${formatRemoteReference(ref)}\n` : `Status: Image is up to date for ${formatRemoteReference(ref)}\n`);
  } finally {
    client.close();
  }
}

function plainProgress(quiet: boolean): ProgressCallback | undefined {
  if (quiet) return undefined;
  const last = new Map<string, string>();
  const words: Record<TransferState, string> = {
    waiting: "Waiting", // Docker: "Pulling fs layer" / "Preparing"
    downloading: "Downloading",
    uploading: "Pushing",
    retrying: "Retrying",
    done: "",
    exists: "Already exists",
    mounted: "Mounted from another repository",
  };
  return (e) => {
    const word = e.state === "done" ? (e.direction === "pull" ? "Pull complete" : "Pushed") : words[e.state];
    if (last.get(e.digest) === word) return;
    last.set(e.digest, word);
    const done = e.state === "done" && e.bytes > 0 ? ` ${humanSize(e.bytes)} at ${humanSize(e.rate)}/s` : "";
    process.stderr.write(`${e.digest.slice(7, 19)}: ${word}${done}\n`);
  };
}

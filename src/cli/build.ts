import { statSync } from "node:fs";
import type { Command } from "commander";
import { collect } from "./flags.js";

/** `berth build`: flags as `docker build`; the builder and renderers load only when it runs. */

interface BuildFlags {
  tag?: string[];
  file?: string;
  buildArg?: string[];
  target?: string;
  cache?: boolean;
  pull?: boolean;
  noCacheFilter?: string[];
  network?: string;
  allow?: string[];
  progress?: string;
  quiet?: boolean;
  iidfile?: string;
  label?: string[];
  secret?: string[];
  ssh?: string[];
  platform?: string;
  sourceDateEpoch?: string;
  explain?: boolean;
  cacheFrom?: string[];
  cacheTo?: string[];
  analyze?: boolean;
  isolation?: string;
}

export function registerBuildCommands(program: Command): void {
  program
    .command("build")
    .description("Build an image from a Dockerfile")
    .argument("<context>", "the build context directory, or - (standard input: a tar archive as the context, or a Dockerfile and no context)")
    .option("-t, --tag <name:tag>", "name and optionally tag the image (repeatable)", collect)
    .option("-f, --file <file>", "the Dockerfile (default CONTEXT/Dockerfile; - for standard input)")
    .option("--build-arg <K=V>", "set a build-time variable; K alone takes it from the environment (repeatable)", collect)
    .option("--target <stage>", "build this stage and what it needs")
    .option("--no-cache", "do not use the cache")
    .option("--pull", "always pull base images from their registry (a missing one is pulled anyway)")
    .option("--no-cache-filter <stage>", "do not use the cache for these stages (repeatable, comma-separated)", collect)
    .option("--network <mode>", "network for RUN: default (a sandbox: own namespace, outbound access through pasta or slirp4netns), none (loopback only) or host (needs --allow network.host)", "default")
    .option("--isolation <type>", "how RUN steps are isolated: default (a container) or chroot (a chroot with berth's own privileges, no namespaces: for CI containers without them; weaker) (default: $BERTH_ISOLATION)")
    .option("--allow <entitlement>", "grant network.host (RUN --network=host) or security.insecure (RUN --security=insecure) (repeatable, comma-separated)", collect)
    .option("--progress <mode>", "auto, tty, plain or json", "auto")
    .option("-q, --quiet", "print only the image ID")
    .option("--iidfile <file>", "write the image ID to the file")
    .option("--label <K=V>", "set metadata on the image (repeatable)", collect)
    .option("--secret <id=…,src=…|env=…>", "a secret for RUN --mount=type=secret (repeatable)", collect)
    .option("--ssh <default|id=socket>", "an SSH agent socket for RUN --mount=type=ssh (default: $SSH_AUTH_SOCK; repeatable)", collect)
    .option("--platform <platform>", "target platform(s), os/arch[/variant][,…]: several make a multi-platform image (an OCI image index)")
    .option("--source-date-epoch <seconds>", "clamp timestamps (also $SOURCE_DATE_EPOCH) for reproducible images")
    .option("--explain", "say for every cache miss why it missed")
    .option("--cache-from <type=registry,ref=R|type=local,src=DIR>", "import a shared build cache (repeatable)", collect)
    .option("--cache-to <type=registry,ref=R|type=local,dest=DIR>[,mode=min|max]", "export the build cache (repeatable)", collect)
    .option("--analyze", "print the image's layer analysis after the build (see berth image analyze)")
    .action(async (contextDir: string, flags: BuildFlags, cmd: Command) => {
      const { UsageError } = await import("../errors.js");
      const root = (cmd.optsWithGlobals() as { root?: string }).root;
      const network = flags.network ?? "default";
      if (network !== "default" && network !== "host" && network !== "none") throw new UsageError(`--network: unsupported mode ${JSON.stringify(flags.network)} (want default, host or none)`);
      const { parseIsolation } = await import("../builder/options.js");
      let isolation;
      try {
        isolation = parseIsolation(flags.isolation ?? process.env.BERTH_ISOLATION);
      } catch (err) {
        throw new UsageError(`${flags.isolation !== undefined ? "--isolation" : "BERTH_ISOLATION"}: ${(err as Error).message}`);
      }
      const { parseEntitlements } = await import("../builder/entitlements.js");
      let allow;
      try {
        allow = parseEntitlements(flags.allow ?? []);
      } catch (err) {
        throw new UsageError(`--allow: ${(err as Error).message}`);
      }
      // names are checked before anything runs, as Docker's CLI checks its flags
      const { InvalidReferenceError, normalizeTag } = await import("../image/reference.js");
      for (const t of flags.tag ?? []) {
        try {
          normalizeTag(t);
        } catch (err) {
          if (!(err instanceof InvalidReferenceError)) throw err;
          throw new UsageError(`invalid argument ${JSON.stringify(t)} for "-t, --tag" flag: invalid reference format: ${err.reason}`);
        }
      }
      const progress = flags.progress ?? "auto";
      if (!["auto", "tty", "plain", "json"].includes(progress)) throw new UsageError(`--progress: want auto, tty, plain or json, not ${JSON.stringify(progress)}`);
      const { parseLabels } = await import("./format.js");
      const labels = parseLabels(flags.label);
      const secrets = (flags.secret ?? []).map((s) => parseSecret(s, UsageError));
      const ssh = (flags.ssh ?? []).map((s) => parseSsh(s, UsageError));
      let epoch: number | undefined;
      if (flags.sourceDateEpoch !== undefined) {
        if (!/^\d+$/.test(flags.sourceDateEpoch)) throw new UsageError(`--source-date-epoch: want seconds since 1970, not ${JSON.stringify(flags.sourceDateEpoch)}`);
        epoch = Number(flags.sourceDateEpoch);
      }
      const { cacheFlags } = await import("./build-cache-flags.js");
      const cache = await cacheFlags(flags.cacheFrom ?? [], flags.cacheTo ?? []);
      let dockerfileText: string | undefined;
      // `build -`: a tar context or a Dockerfile (and no context) on stdin, as docker build -
      const fromStdin = contextDir === "-" ? await stdinContext(flags.file, UsageError) : undefined;
      if (fromStdin !== undefined) dockerfileText = fromStdin.dockerfileText;
      else if (flags.file === "-") {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        dockerfileText = Buffer.concat(chunks).toString("utf8");
      }
      const dockerfile = fromStdin?.dockerfile ?? (flags.file !== undefined && flags.file !== "-" ? flags.file : undefined);
      const [{ build, writeIidFile }, { formatPlatform }] = await Promise.all([import("../builder/index.js"), import("../image/platform.js")]);
      const { createRenderer } = await import("../progress/index.js");
      const renderer = createRenderer(flags.quiet === true ? "quiet" : (progress as "auto"), process.stderr, { explain: flags.explain === true || progress === "plain" });
      const abort = new AbortController();
      let interrupts = 0;
      const onSigint = () => {
        interrupts++;
        abort.abort();
        if (interrupts > 1) process.exit(130);
      };
      process.on("SIGINT", onSigint);
      process.on("SIGTERM", onSigint);
      const { whenOutputCloses } = await import("./output.js");
      // the reader of the output went away: stop as on Ctrl-C (the error goes nowhere)
      const unwatch = whenOutputCloses(() => abort.abort());
      try {
        const result = await build({
          context: fromStdin?.dir ?? contextDir,
          ...(dockerfile !== undefined ? { dockerfile } : {}),
          ...(dockerfileText !== undefined ? { dockerfileText } : {}),
          ...(root !== undefined ? { root } : {}),
          tags: flags.tag ?? [],
          buildArgs: flags.buildArg ?? [],
          ...(flags.target !== undefined ? { target: flags.target } : {}),
          noCache: flags.cache === false,
          pull: flags.pull === true,
          noCacheFilter: (flags.noCacheFilter ?? []).flatMap((f) => f.split(",")).filter(Boolean),
          network,
          isolation,
          allow,
          labels,
          secrets,
          ssh,
          ...(flags.platform !== undefined ? { platform: flags.platform } : {}),
          ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}),
          ...cache,
          onEvent: (e) => renderer.handle(e),
          signal: abort.signal,
        });
        // BuildKit's words for a multi-platform image: each platform's image, then the index
        for (const p of result.platformImages ?? []) renderer.handle({ type: "info", message: `writing image ${p.imageId} for ${formatPlatform(p.platform)} done`, time: Date.now() });
        renderer.handle({ type: "info", message: result.platformImages !== undefined ? `exporting manifest list ${result.imageId} done` : `writing image ${result.imageId} done`, time: Date.now() });
        for (const t of flags.tag ?? []) renderer.handle({ type: "info", message: `naming to ${t} done`, time: Date.now() });
        renderer.finish();
        if (flags.iidfile !== undefined) await writeIidFile(flags.iidfile, result.imageId);
        if (flags.quiet === true) process.stdout.write(`${result.imageId}\n`);
        if (flags.analyze === true) await (await import("./image/analyze.js")).printAnalysis(result.image, process.stdout);
      } catch (err) {
        renderer.finish();
        throw err;
      } finally {
        if (fromStdin !== undefined) (await import("node:fs")).rmSync(fromStdin.top, { recursive: true, force: true });
        unwatch();
        process.off("SIGINT", onSigint);
        process.off("SIGTERM", onSigint);
      }
    });
}

/**
 * Read `build -`'s stdin into a temp directory: a tar archive (plain or compressed, found by
 * its magic as Docker's archive.IsArchive) is extracted there as the context, with the
 * Dockerfile in it (or at -f, a path inside it); anything else is the Dockerfile, and the
 * context is empty.
 */
async function stdinContext(file: string | undefined, UsageError: new (m: string) => Error): Promise<{ top: string; dir: string; dockerfile?: string; dockerfileText?: string }> {
  if (file === "-") throw new UsageError("invalid argument: can't use stdin for both build context and dockerfile");
  const [{ closeSync, createWriteStream, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync }, { tmpdir }, { join }, { pipeline }, { spawnSync }] = await Promise.all([
    import("node:fs"),
    import("node:os"),
    import("node:path"),
    import("node:stream/promises"),
    import("node:child_process"),
  ]);
  const top = mkdtempSync(join(tmpdir(), "berth-stdin-"));
  try {
    const input = join(top, "stdin");
    await pipeline(process.stdin, createWriteStream(input));
    const head = Buffer.alloc(512);
    const fd = openSync(input, "r");
    const length = readSync(fd, head, 0, 512, 0);
    closeSync(fd);
    const compressed = [[0x1f, 0x8b], [0x42, 0x5a, 0x68], [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], [0x28, 0xb5, 0x2f, 0xfd]].some((magic) => magic.every((b, i) => head[i] === b));
    const tar = length === 512 && head.toString("latin1", 257, 262) === "ustar";
    const dir = join(top, "context");
    mkdirSync(dir);
    if (!compressed && !tar) return { top, dir, dockerfileText: readFileSync(input, "utf8") };
    const r = spawnSync("tar", ["-x", "-f", input, "-C", dir, "--no-same-owner"], { encoding: "utf8" });
    if (r.status !== 0) throw new UsageError(`failed to read the build context from stdin: ${r.stderr.trim() || "tar failed"}`);
    rmSync(input);
    return { top, dir, ...(file !== undefined ? { dockerfile: join(dir, file) } : {}) };
  } catch (err) {
    rmSync(top, { recursive: true, force: true });
    throw err;
  }
}

function parseSecret(spec: string, UsageError: new (m: string) => Error): { id: string; src?: string; env?: string } {
  const out: { id?: string; src?: string; env?: string } = {};
  for (const field of spec.split(",")) {
    const i = field.indexOf("=");
    const k = i < 0 ? field : field.slice(0, i);
    const v = i < 0 ? "" : field.slice(i + 1);
    if (k === "id") out.id = v;
    else if (k === "src" || k === "source") out.src = v;
    else if (k === "env") out.env = v;
    else if (k === "type") {
      if (v !== "file" && v !== "env") throw new UsageError(`--secret ${spec}: unsupported type ${v}`);
    } else throw new UsageError(`--secret ${spec}: unexpected key ${k}`);
  }
  if (out.id === undefined || out.id === "") {
    if (out.src !== undefined) out.id = out.src.split("/").pop() ?? "";
    else if (out.env !== undefined) out.id = out.env;
    else throw new UsageError(`--secret ${spec}: id required`);
  }
  return out as { id: string; src?: string; env?: string };
}

/**
 * `--ssh default` ($SSH_AUTH_SOCK) or `--ssh ID=SOCKET`, as docker's. Docker also takes key
 * files (its client runs an agent for them); berth forwards running agents only.
 */
function parseSsh(spec: string, UsageError: new (m: string) => Error): { id: string; socket: string } {
  const eq = spec.indexOf("=");
  const id = eq < 0 ? spec : spec.slice(0, eq);
  const paths = eq < 0 ? [] : spec.slice(eq + 1).split(",").filter((p) => p !== "");
  if (id === "") throw new UsageError(`--ssh ${spec}: an id is required (default, or ID=SOCKET)`);
  if (paths.length > 1) throw new UsageError(`--ssh ${spec}: berth forwards an SSH agent's socket, not key files (ssh-add the keys to an agent, then --ssh ${id}=$SSH_AUTH_SOCK)`);
  const socket = paths[0] ?? (process.env.SSH_AUTH_SOCK ?? "");
  if (socket === "") throw new UsageError(`--ssh ${spec}: invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set`);
  let isSocket: boolean;
  try {
    isSocket = statSync(socket).isSocket();
  } catch (err) {
    throw new UsageError(`--ssh ${spec}: ${socket}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (err as Error).message}`);
  }
  if (!isSocket) throw new UsageError(`--ssh ${spec}: ${socket} is not a socket: berth forwards an SSH agent's socket, not key files (ssh-add the key to an agent)`);
  return { id, socket };
}

import { platformOfConfig } from "../../image/platform.js";
import { checkEmulation } from "../../runtime/emulation.js";
import { Writable } from "node:stream";
import { LayeredSourceFs } from "../../context/index.js";
import type { Mount, RunInstruction } from "../../instructions/index.js";
import { errorAt, PROXY_ARGS } from "../../plan/index.js";
import { entitlementMessage, missingEntitlement, runSecurity } from "../entitlements.js";
import { BuildError } from "../errors.js";
import { runCommandString } from "../history.js";
import type { KeyInputs } from "../keys.js";
import { shellCommand } from "../metadata.js";
import type { RunNetwork } from "../sandbox.js";
import type { BuildSession, Step } from "../session.js";
import { containerConfig, processEnv, stageEnv } from "../stage-state.js";
import { runCommand, runMounts, runNetwork } from "./command.js";
import { hasCapSysAdmin } from "../../sys/capabilities.js";
import { isRootless } from "../../sys/host-uid.js";
import { BUILD_HOSTNAME } from "../../runtime/network/etc-files.js";

/** Collects a step's output as events and keeps its tail for the error report. */
class StepOutput extends Writable {
  tail = "";
  constructor(private readonly sink: (data: string) => void) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    const s = chunk.toString("utf8");
    this.tail = (this.tail + s).slice(-8192);
    this.sink(s);
    cb();
  }
}

/**
 * What of a RUN's mounts goes into its cache key: bind mounts of the context or of stages make
 * their content part of it; caches, tmpfs, secrets and ssh sockets their place and identity.
 */
async function mountKeys(b: BuildSession, mounts: readonly Mount[]): Promise<string[]> {
  const ids: string[] = [];
  const fromIdentity = async (from: string) => (await b.fromSource(from)).identity;
  for (const m of mounts) {
    if (m.type === "bind") {
      if (m.from !== undefined) ids.push(`bind:${m.target}:${m.source ?? ""}:${await fromIdentity(m.from)}`);
      else {
        const ctx = await b.resources.buildContext();
        const { checksumSelection, resolveCopySources } = await import("../../context/index.js");
        const src = (m.source ?? ".").replace(/^\/+/, "") || ".";
        const sum = await checksumSelection(ctx, resolveCopySources(ctx, [src]), { statCache: b.resources.statCache() });
        ids.push(`bind:${m.target}:${src}:${sum.digest}`);
      }
    } else if (m.type === "cache") {
      // from= is an input of the RUN as in BuildKit (its ref is a mount of the exec op);
      // the other fields keep the key they always had.
      const extra = m.from !== undefined ? `:${await fromIdentity(m.from)}:${m.source ?? ""}` : m.source !== undefined ? `::${m.source}` : "";
      ids.push(`cache:${m.target}:${m.id ?? ""}${extra}`);
    }
    else if (m.type === "tmpfs") ids.push(`tmpfs:${m.target}`);
    else if (m.type === "secret") ids.push(`secret:${m.id ?? ""}:${m.target}:${m.env ?? ""}`);
    // as BuildKit's exec op: the socket's place, id, owner and mode, not the agent's keys
    else if (m.type === "ssh") ids.push(`ssh:${m.target ?? ""}:${m.id}:${m.uid}:${m.gid}:${m.mode.toString(8)}:${m.required}`);
  }
  return ids;
}

/** RUN: the command in a transient container over the stage's rootfs, its changes the layer. */
export async function dispatchRun(b: BuildSession, s: Step<RunInstruction>): Promise<void> {
  const { node, state, expand, fail } = s;
  const id = s.show();
  const anotherFollows = b.runStarts(s.onbuild);
  const command = runCommand(node, (text) => shellCommand(state, text));
  let mounts;
  let network: RunNetwork;
  let security: "sandbox" | "insecure";
  try {
    mounts = runMounts(node, expand);
    network = runNetwork(node, b.defaultNetwork);
    security = runSecurity(node, expand);
  } catch (err) {
    throw fail((err as Error).message, { cause: err });
  }
  const allow = b.options.allow ?? [];
  const missing = missingEntitlement(node, allow, security);
  if (missing !== undefined) throw errorAt(b.plan, node, entitlementMessage(missing));
  const chroot = b.options.isolation === "chroot";
  if (chroot) {
    // nothing can be mounted, and no namespace made: say so rather than run without them
    if (mounts.length > 0) throw fail(`RUN --mount is not available with --isolation chroot: mounts need CAP_SYS_ADMIN (build with the default isolation where it is allowed)`);
    if (command.script !== undefined) throw fail(`RUN <<EOF with a #! script is not available with --isolation chroot: the script is mounted into the step, and mounts need CAP_SYS_ADMIN (start the heredoc with a shell command instead)`);
    if (network === "none") throw fail(`RUN --network=none is not available with --isolation chroot: a step shares the job's network (build with the default isolation for a network of its own)`);
  } else if (!isRootless() && !hasCapSysAdmin()) {
    throw fail(
      "RUN needs a container, and berth cannot make one here: it runs as root without CAP_SYS_ADMIN (in a container started without --privileged, which allows no mounts and no namespaces); build with --isolation chroot (or BERTH_ISOLATION=chroot): RUN steps then run in a chroot with the job's own privileges",
    );
  }
  const cfg = containerConfig(state);
  const env = processEnv(state);
  // Proxy build args reach the process without an ARG, and stay out of key and history.
  const runEnv = [...env];
  const keys = new Set(env.map((e) => e.slice(0, e.indexOf("="))));
  for (const [k, v] of b.plan.buildArgs) if (PROXY_ARGS.has(k) && !keys.has(k)) runEnv.push(`${k}=${v}`);
  const cwd = cfg.WorkingDir || "/";
  const user = cfg.User;
  const mountIds = await mountKeys(b, mounts);
  const createdBy = `RUN ${runCommandString(command.args, state.args.map((a) => ({ key: a.key, value: stageEnv(state).get(a.key) ?? a.value ?? "" })))} # buildkit`;
  const inputs: KeyInputs = {
    parent: state.key,
    // the security mode is part of the step, as of BuildKit's exec op; sandbox, the default,
    // leaves the key as it was before berth knew the flag
    instruction: JSON.stringify({ run: command.args, script: command.script?.content, cwd, user: user ?? "", network, mounts: mountIds, ...(security === "insecure" ? { security } : {}) }),
    // env and args that reach the step: image ENV, declared ARG values (not proxies)
    env: [...env].sort(),
  };
  const view = b.resources.parentView(state);
  const options = b.options;
  const layersOf = async (from: string): Promise<{ identity: string; fs: LayeredSourceFs }> => {
    const src = await b.fromSource(from);
    return { identity: src.identity, fs: new LayeredSourceFs(src.layers, src.label, b.resources.isOpaque) };
  };
  // --isolation chroot: the step's root, a tree of the build's (run/chroot.ts), handed back
  // with the stage's layers once the step's own layer is among them
  const chrootRoots = chroot ? (await import("./chroot.js")).chrootRoots(b, b.store, b.resources.isOpaque) : undefined;
  let chrootTree: import("./chroot.js").Tree | undefined;
  try {
    await b.cache.layerStep(s, id, inputs, createdBy, async (snap) => {
      const stdout = new StepOutput((data) => b.emit({ type: "log", id, stream: "stdout", data, time: Date.now() }));
      const stderr = new StepOutput((data) => b.emit({ type: "log", id, stream: "stderr", data, time: Date.now() }));
      const both = () => (stdout.tail + stderr.tail).slice(-8192);
      let code: number;
      const { executeRun } = await import("./execute.js");
      // a foreign stage's RUN goes through QEMU: say how to get it before runc's "exec format error"
      try {
        checkEmulation(platformOfConfig(state.config), "the stage");
      } catch (err) {
        throw fail((err as Error).message, { cause: err });
      }
      try {
        code = chroot
          ? await (await import("./chroot.js")).executeChrootRun({
              tree: (chrootTree = await chrootRoots!.acquire(state.layers)),
              snapshot: snap,
              args: command.args,
              env: runEnv,
              cwd,
              user,
              hostname: BUILD_HOSTNAME,
              stdout,
              stderr,
              ...(options.signal !== undefined ? { signal: options.signal } : {}),
            })
          : await executeRun({
          snapshot: snap,
          command,
          env: runEnv,
          cwd,
          user,
          network,
          sandbox: async () => {
            if (security === "insecure") b.sandbox.taint();
            return (await b.sandbox.ready()).netns;
          },
          ...(security === "insecure" ? { privileged: true } : {}),
          mounts,
          sources: {
            contextView: () => b.resources.contextView(),
            memoryDir: () => b.resources.memoryDir(),
            fromLayers: async (from) => (await layersOf(from)).fs,
            cacheMountsDir: b.store.cacheMountsDir(),
            fromTree: layersOf,
            secrets: options.secrets ?? [],
            ssh: options.ssh ?? [],
            environment: b.environment,
            etcFiles: (net) => b.resources.etcFiles(net),
          },
          stdout,
          stderr,
          ...(options.signal !== undefined ? { signal: options.signal } : {}),
          ...(options.runtime !== undefined ? { runtime: options.runtime } : {}),
          stateDir: b.stateDir,
          deferCleanup: (p) => b.deferCleanup(p),
          anotherFollows,
          existsInParent: (abs) => view.lstat(abs.replace(/^\/+/, "")) !== undefined,
          parentType: (abs) => view.lstat(abs.replace(/^\/+/, ""))?.type,
        });
      } catch (err) {
        if (err instanceof BuildError) throw err;
        throw fail((err as Error).message, { output: both(), cause: err });
      }
      if (options.signal?.aborted === true) throw fail("the build was cancelled", { exitCode: 130, output: both() });
      if (code !== 0) {
        throw fail(`process "${command.args.join(" ")}" did not complete successfully: exit code: ${code}`, { output: both() });
      }
    });
  } catch (err) {
    if (chrootTree !== undefined) await chrootRoots!.drop(chrootTree);
    throw err;
  }
  if (chrootTree !== undefined) chrootRoots!.adopt(chrootTree, state.layers);
}

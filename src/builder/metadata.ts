import { assertNever, type CommandLine, type Instruction, type KeyValue } from "../instructions/index.js";
import { argDeclarations } from "../plan/index.js";
import type { HealthConfig } from "../image/types.js";
import { goDuration, goList, goQuoteList, HISTORY_COMMENT } from "./history.js";
import { addEnv, containerConfig, type StageState } from "./stage-state.js";
import type { BuildError } from "./errors.js";

/** The instructions that only change the image config (and history): no layer, no cache key. */
export type MetadataInstruction = Exclude<Instruction, { kind: "from" | "run" | "copy" | "add" | "workdir" }>;

export interface MetaContext {
  state: StageState;
  expand(word: string): string;
  expandWords(word: string): string[];
  fail(detail: string): BuildError;
  /** Build args given to this build. */
  buildArgs: ReadonlyMap<string, string>;
  globalArgs: ReadonlyMap<string, string>;
}

function history(s: StageState, createdBy: string): void {
  s.newHistory.push({ entry: { created_by: createdBy, comment: HISTORY_COMMENT, empty_layer: true } });
}

/** ENV/LABEL pairs, expanded. */
function pairs(ctx: MetaContext, kvs: readonly KeyValue[]): { key: string; value: string }[] {
  return kvs.map((kv) => ({ key: ctx.expand(kv.key.raw), value: ctx.expand(kv.value.raw) }));
}

/** Shell form gets the image's SHELL (or /bin/sh -c) in front, as BuildKit's withShell. */
export function withShell(s: StageState, command: CommandLine): string[] {
  return command.form === "exec" ? [...command.args] : shellCommand(s, command.command);
}

/** A shell-form command line as the stage's SHELL (or /bin/sh -c) runs it. */
export function shellCommand(s: StageState, command: string): string[] {
  const shell = s.config.config?.Shell;
  return [...(shell !== undefined && shell.length > 0 ? shell : ["/bin/sh", "-c"]), command];
}

function parsePorts(ctx: MetaContext, words: string[]): string[] {
  const out: string[] = [];
  for (const raw of words) {
    const parts = raw.split(":");
    const last = parts[parts.length - 1] as string;
    let [port = "", proto = ""] = last.split("/", 2);
    proto = proto.toLowerCase() || "tcp";
    if (port === "") throw ctx.fail(`no port specified: ${raw}<empty>`);
    if (proto !== "tcp" && proto !== "udp" && proto !== "sctp") throw ctx.fail(`invalid proto: ${proto}`);
    const m = /^(\d+)(?:-(\d+))?$/.exec(port);
    if (m === null) throw ctx.fail(`invalid containerPort: ${port}`);
    const start = Number(m[1]);
    const end = m[2] !== undefined ? Number(m[2]) : start;
    if (start > 65535 || end > 65535 || end < start) throw ctx.fail(`invalid containerPort: ${port}`);
    for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

/**
 * Applies a metadata instruction to the stage's image config and records its history as
 * BuildKit does. Returns false for instructions that are not metadata (RUN, COPY, ADD, WORKDIR).
 */
/**
 * Applies a metadata instruction to the stage's image config and records its history as
 * BuildKit does.
 */
export function applyMetadata(ctx: MetaContext, ins: MetadataInstruction): void {
  const s = ctx.state;
  const cfg = containerConfig(s);
  switch (ins.kind) {
    case "env": {
      const ps = pairs(ctx, ins.vars);
      cfg.Env ??= [];
      for (const p of ps) {
        addEnv(cfg.Env, p.key, p.value);
        s.env.set(p.key, p.value);
      }
      history(s, "ENV " + ps.map((p) => `${p.key}=${p.value}`).join(" "));
      return;
    }
    case "label": {
      const ps = pairs(ctx, ins.labels);
      cfg.Labels ??= {};
      for (const p of ps) cfg.Labels[p.key] = p.value;
      history(s, "LABEL " + ps.map((p) => `${p.key}=${p.value}`).join(" "));
      return;
    }
    case "maintainer": {
      s.config.author = ins.maintainer;
      history(s, `MAINTAINER ${s.config.author}`);
      return;
    }
    case "user": {
      const u = ctx.expand(ins.user.raw);
      if (u === "") throw ctx.fail("USER requires exactly one argument");
      cfg.User = u;
      history(s, `USER ${u}`);
      return;
    }
    case "expose": {
      const words = ins.ports.flatMap((p) => ctx.expandWords(p.raw));
      const ports = parsePorts(ctx, words);
      cfg.ExposedPorts ??= {};
      for (const p of ports) cfg.ExposedPorts[p] = {};
      // Current BuildKit (dispatchExpose → parsePorts) prints the ports as a Go list in the
      // order written: `EXPOSE [8080/tcp 53/udp]`. Docker 20.10's BuildKit printed a sorted Go
      // map (`EXPOSE map[53/udp:{} 8080/tcp:{}]`); today's Docker users see the list.
      history(s, `EXPOSE [${ports.join(" ")}]`);
      return;
    }
    case "volume": {
      const vols = ins.json ? ins.paths.map((p) => ctx.expand(p.raw)) : ins.paths.flatMap((p) => ctx.expandWords(p.raw));
      if (vols.length === 0) throw ctx.fail("VOLUME requires at least one argument");
      cfg.Volumes ??= {};
      for (const v of vols) {
        if (v === "") throw ctx.fail("VOLUME specified can not be an empty string");
        cfg.Volumes[v] = {};
      }
      history(s, `VOLUME ${goList(vols)}`);
      return;
    }
    case "stopsignal": {
      const sig = ctx.expand(ins.signal.raw);
      if (!/^(SIG)?[A-Z0-9+-]+$/.test(sig) && !/^\d+$/.test(sig)) throw ctx.fail(`invalid signal: ${sig}`);
      cfg.StopSignal = sig;
      history(s, `STOPSIGNAL ${sig}`);
      return;
    }
    case "shell": {
      cfg.Shell = [...ins.shell];
      history(s, `SHELL ${goList(ins.shell)}`);
      return;
    }
    case "cmd": {
      const cmd = withShell(s, ins.command);
      cfg.Cmd = cmd;
      cfg.ArgsEscaped = true;
      s.cmdSet = true;
      history(s, `CMD ${goQuoteList(cmd)}`);
      return;
    }
    case "entrypoint": {
      const ep = withShell(s, ins.command);
      cfg.Entrypoint = ep;
      // ENTRYPOINT resets a CMD inherited from the base, not one set earlier in this stage.
      if (!s.cmdSet) cfg.Cmd = null;
      history(s, `ENTRYPOINT ${goQuoteList(ep)}`);
      return;
    }
    case "healthcheck": {
      const command = ins.command;
      const test = ins.disable || command === undefined ? ["NONE"] : command.form === "exec" ? ["CMD", ...command.args] : ["CMD-SHELL", command.command];
      const retries = ins.retries ?? 0;
      // as Docker's image config: unset (zero) durations and retries are left out (omitempty)
      const h: HealthConfig = {
        Test: test,
        ...(ins.interval ? { Interval: ins.interval } : {}),
        ...(ins.timeout ? { Timeout: ins.timeout } : {}),
        ...(ins.startPeriod ? { StartPeriod: ins.startPeriod } : {}),
        ...(ins.startInterval ? { StartInterval: ins.startInterval } : {}),
        ...(retries ? { Retries: retries } : {}),
      };
      cfg.Healthcheck = h;
      history(
        s,
        `HEALTHCHECK {Test:${goList(test)} Interval:${goDuration(h.Interval ?? 0)} Timeout:${goDuration(h.Timeout ?? 0)} StartPeriod:${goDuration(h.StartPeriod ?? 0)} StartInterval:${goDuration(h.StartInterval ?? 0)} Retries:${retries}}`,
      );
      return;
    }
    case "onbuild":
      cfg.OnBuild = [...(cfg.OnBuild ?? []), ins.expression.replace(/^\s*onbuild\s+/i, "")];
      return; // BuildKit records no history for ONBUILD
    case "arg": {
      const texts: string[] = [];
      for (const d of argDeclarations(ins)) {
        let value: string | undefined;
        const given = ctx.buildArgs.get(d.key);
        if (given !== undefined) value = given;
        else if (d.defaultValue !== undefined) value = ctx.expand(d.defaultValue);
        else if (ctx.globalArgs.has(d.key)) value = ctx.globalArgs.get(d.key);
        s.args.push({ key: d.key, value });
        if (value !== undefined) s.env.set(d.key, value);
        texts.push(value === undefined ? d.key : `${d.key}=${value}`);
      }
      history(s, `ARG ${texts.join(" ")}`);
      return;
    }
    default:
      assertNever(ins);
  }
}

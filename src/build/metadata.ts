import type { InstructionNode } from "../parser/index.js";
import { argDeclarations } from "../plan/index.js";
import { flagValue } from "../plan/index.js";
import type { HealthConfig } from "../image/types.js";
import { goDuration, goList, goQuoteList, HISTORY_COMMENT } from "./history.js";
import { addEnv, containerConfig, type StageState } from "./stage-state.js";
import type { BuildError } from "./errors.js";

export interface MetaContext {
  node: InstructionNode;
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

/** ENV/LABEL arguments come in (key, value, separator) triples. */
function pairs(ctx: MetaContext): { key: string; value: string }[] {
  const a = ctx.node.args;
  const out: { key: string; value: string }[] = [];
  for (let i = 0; i + 1 < a.length; i += 3) out.push({ key: ctx.expand(a[i]!.value), value: ctx.expand(a[i + 1]!.value) });
  if (out.length === 0) throw ctx.fail(`${ctx.node.name.toUpperCase()} requires at least one argument`);
  return out;
}

/** Shell form gets the image's SHELL (or /bin/sh -c) in front, as BuildKit's withShell. */
export function withShell(s: StageState, node: InstructionNode, args: readonly string[]): string[] {
  if (node.json) return [...args];
  const shell = s.config.config?.Shell;
  return [...(shell !== undefined && shell.length > 0 ? shell : ["/bin/sh", "-c"]), args.join(" ")];
}

/** Go's time.ParseDuration for the forms HEALTHCHECK flags use (`30s`, `1m30s`, `500ms`). */
export function parseDuration(text: string): number | undefined {
  if (text === "0") return 0;
  const unit: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 6e10, h: 3.6e12 };
  let rest = text;
  let total = 0;
  const re = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/;
  if (rest === "") return undefined;
  while (rest !== "") {
    const m = re.exec(rest);
    if (m === null) return undefined;
    total += Number(m[1]) * (unit[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

function healthDuration(ctx: MetaContext, name: string): number {
  const v = flagValue(ctx.node, name);
  if (v === undefined || v === "") return 0;
  const d = parseDuration(v);
  if (d === undefined) throw ctx.fail(`invalid --${name}=${v}: not a duration`);
  if (d !== 0 && d < 1e6) throw ctx.fail(`Interval "${name}" cannot be less than 1ms`);
  return d;
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
export function applyMetadata(ctx: MetaContext): boolean {
  const s = ctx.state;
  const node = ctx.node;
  const cfg = containerConfig(s);
  const args = node.args.map((a) => a.value);
  switch (node.name) {
    case "env": {
      const ps = pairs(ctx);
      cfg.Env ??= [];
      for (const p of ps) {
        addEnv(cfg.Env, p.key, p.value);
        s.env.set(p.key, p.value);
      }
      history(s, "ENV " + ps.map((p) => `${p.key}=${p.value}`).join(" "));
      return true;
    }
    case "label": {
      const ps = pairs(ctx);
      cfg.Labels ??= {};
      for (const p of ps) cfg.Labels[p.key] = p.value;
      history(s, "LABEL " + ps.map((p) => `${p.key}=${p.value}`).join(" "));
      return true;
    }
    case "maintainer": {
      s.config.author = args.join(" ");
      history(s, `MAINTAINER ${s.config.author}`);
      return true;
    }
    case "user": {
      const u = ctx.expand(args[0] ?? "");
      if (u === "") throw ctx.fail("USER requires exactly one argument");
      cfg.User = u;
      history(s, `USER ${u}`);
      return true;
    }
    case "expose": {
      const words = args.flatMap((a) => ctx.expandWords(a));
      const ports = parsePorts(ctx, words);
      cfg.ExposedPorts ??= {};
      for (const p of ports) cfg.ExposedPorts[p] = {};
      // Current BuildKit (dispatchExpose → parsePorts) prints the ports as a Go list in the
      // order written: `EXPOSE [8080/tcp 53/udp]`. Docker 20.10's BuildKit printed a sorted Go
      // map (`EXPOSE map[53/udp:{} 8080/tcp:{}]`); today's Docker users see the list.
      history(s, `EXPOSE [${ports.join(" ")}]`);
      return true;
    }
    case "volume": {
      const vols = node.json ? args.map((a) => ctx.expand(a)) : args.flatMap((a) => ctx.expandWords(a));
      if (vols.length === 0) throw ctx.fail("VOLUME requires at least one argument");
      cfg.Volumes ??= {};
      for (const v of vols) {
        if (v === "") throw ctx.fail("VOLUME specified can not be an empty string");
        cfg.Volumes[v] = {};
      }
      history(s, `VOLUME ${goList(vols)}`);
      return true;
    }
    case "stopsignal": {
      const sig = ctx.expand(args[0] ?? "");
      if (!/^(SIG)?[A-Z0-9+-]+$/.test(sig) && !/^\d+$/.test(sig)) throw ctx.fail(`invalid signal: ${sig}`);
      cfg.StopSignal = sig;
      history(s, `STOPSIGNAL ${sig}`);
      return true;
    }
    case "shell": {
      if (!node.json) throw ctx.fail("SHELL requires the arguments to be in JSON form");
      if (args.length === 0) throw ctx.fail("SHELL requires at least one argument");
      cfg.Shell = args;
      history(s, `SHELL ${goList(args)}`);
      return true;
    }
    case "cmd": {
      const cmd = withShell(s, node, args);
      cfg.Cmd = cmd;
      cfg.ArgsEscaped = true;
      s.cmdSet = true;
      history(s, `CMD ${goQuoteList(cmd)}`);
      return true;
    }
    case "entrypoint": {
      const ep = withShell(s, node, args);
      cfg.Entrypoint = ep;
      // ENTRYPOINT resets a CMD inherited from the base, not one set earlier in this stage.
      if (!s.cmdSet) cfg.Cmd = null;
      history(s, `ENTRYPOINT ${goQuoteList(ep)}`);
      return true;
    }
    case "healthcheck": {
      const kind = (args[0] ?? "").toUpperCase();
      let test: string[];
      if (kind === "NONE") {
        if (args.length > 1) throw ctx.fail("HEALTHCHECK NONE takes no arguments");
        test = ["NONE"];
      } else if (kind === "CMD") {
        const rest = args.slice(1);
        if (rest.length === 0) throw ctx.fail("Missing command after HEALTHCHECK CMD");
        test = node.json ? ["CMD", ...rest] : ["CMD-SHELL", rest.join(" ")];
      } else throw ctx.fail(`Unknown type "${args[0] ?? ""}" in HEALTHCHECK (try CMD)`);
      const retriesText = flagValue(node, "retries");
      const retries = retriesText === undefined || retriesText === "" ? 0 : Number(retriesText);
      if (!Number.isInteger(retries) || retries < 0) throw ctx.fail(`invalid --retries=${retriesText ?? ""}`);
      const h: HealthConfig = {
        Test: test,
        Interval: healthDuration(ctx, "interval"),
        Timeout: healthDuration(ctx, "timeout"),
        StartPeriod: healthDuration(ctx, "start-period"),
        StartInterval: healthDuration(ctx, "start-interval"),
        Retries: retries,
      };
      cfg.Healthcheck = h;
      history(
        s,
        `HEALTHCHECK {Test:${goList(test)} Interval:${goDuration(h.Interval ?? 0)} Timeout:${goDuration(h.Timeout ?? 0)} StartPeriod:${goDuration(h.StartPeriod ?? 0)} StartInterval:${goDuration(h.StartInterval ?? 0)} Retries:${retries}}`,
      );
      return true;
    }
    case "onbuild": {
      const child = node.child;
      if (child === undefined) throw ctx.fail("ONBUILD requires at least one argument");
      if (child.name === "onbuild") throw ctx.fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (child.name === "from" || child.name === "maintainer") throw ctx.fail(`${child.keyword.toUpperCase()} isn't allowed as an ONBUILD trigger`);
      cfg.OnBuild = [...(cfg.OnBuild ?? []), child.original.replace(/^\s*onbuild\s+/i, "")];
      return true; // BuildKit records no history for ONBUILD
    }
    case "arg": {
      const texts: string[] = [];
      for (const d of argDeclarations(node)) {
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
      return true;
    }
    default:
      return false;
  }
}

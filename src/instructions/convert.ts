/**
 * AST node → typed instruction, with BuildKit's validation (frontend/dockerfile/instructions):
 * argument counts, flags each instruction accepts, flag values, command forms, ONBUILD triggers.
 */
import type { ArgumentNode, FlagNode, HeredocNode, InstructionNode, SourceRange } from "../parser/ast.js";
import { Span } from "../parser/span.js";
import type { InstructionContext } from "./context.js";
import { parseFlags, type FlagSpec } from "./flags.js";
import { MountSpecError, parseMountSpec } from "./mount.js";
import { nearest } from "./suggest.js";
import type {
  AddInstruction,
  ArgDeclaration,
  CommandLine,
  CopyInstruction,
  Heredoc,
  Instruction,
  InstructionKind,
  KeyValue,
  Mount,
  Word,
} from "./types.js";
import { isValidChmod, isValidPortSpec, isValidSignal, parseGoDuration, STAGE_NAME } from "./values.js";

export const INSTRUCTION_NAMES: readonly InstructionKind[] = [
  "from", "run", "cmd", "label", "maintainer", "expose", "env", "add", "copy", "entrypoint",
  "volume", "user", "workdir", "arg", "onbuild", "stopsignal", "healthcheck", "shell",
];

const FLAGS: Readonly<Record<InstructionKind, FlagSpec>> = {
  from: { platform: "string" },
  run: { mount: "list", network: "string", security: "string" },
  cmd: {},
  label: {},
  maintainer: {},
  expose: {},
  env: {},
  add: { chown: "string", chmod: "string", link: "bool", checksum: "string", "keep-git-dir": "bool", exclude: "list", unpack: "bool" },
  copy: { from: "string", chown: "string", chmod: "string", link: "bool", parents: "bool", exclude: "list" },
  entrypoint: {},
  volume: {},
  user: {},
  workdir: {},
  arg: {},
  onbuild: {},
  stopsignal: {},
  healthcheck: { interval: "string", timeout: "string", "start-period": "string", "start-interval": "string", retries: "string" },
  shell: {},
};

const isKind = (name: string): name is InstructionKind => Object.hasOwn(FLAGS, name);

function word(arg: ArgumentNode, expand: boolean): Word {
  return { raw: arg.value, expand, range: arg.range };
}

function flagWord(flag: FlagNode | undefined): Word | undefined {
  return flag === undefined ? undefined : { raw: flag.value ?? "", expand: true, range: flag.range };
}

function spanOf(first: SourceRange, last: SourceRange): Span {
  return Span.between(first.start, last.end);
}

function commandLine(node: InstructionNode, args: readonly ArgumentNode[], fallback: SourceRange): CommandLine {
  const range = args.length === 0 ? fallback : spanOf(args[0]!.range, args[args.length - 1]!.range);
  if (node.json) return { form: "exec", args: args.map((a) => a.value), range };
  return { form: "shell", command: args[0]?.value ?? "", range };
}

function heredoc(h: HeredocNode): Heredoc {
  // <<- strips leading tabs from every line of the body (BuildKit's ChompHeredocContent).
  const content = h.chomp ? h.content.replace(/^\t+/gm, "") : h.content;
  return { name: h.name, fileDescriptor: h.fileDescriptor, expand: h.expand, chomp: h.chomp, content, raw: h.content, range: h.range };
}

function hasVariable(s: string): boolean {
  return s.includes("$");
}

/** Convert one syntax node; throws DockerfileSyntaxError (with the node's position) when invalid. */
export function toInstruction(node: InstructionNode, ctx: InstructionContext): Instruction {
  const name = node.name;
  if (!isKind(name)) {
    if (node.keyword === "") throw ctx.error("empty instruction (a line of nothing but escape characters)", node.range);
    const guess = nearest(name, INSTRUCTION_NAMES);
    const hint = guess === undefined ? "" : ` (did you mean ${guess.toUpperCase()}?)`;
    throw ctx.error(`unknown instruction: ${node.keyword}${hint}`, node.keywordRange);
  }
  const keyword = name.toUpperCase();
  const flags = parseFlags(node, FLAGS[name], ctx, (flag) => {
    const owners = INSTRUCTION_NAMES.filter((k) => Object.hasOwn(FLAGS[k], flag));
    return owners.length === 0 ? undefined : owners.map((k) => k.toUpperCase()).join(" and ");
  });
  const args = node.args;
  const base = { range: node.range, node };
  const atLeast = (n: number, what = n === 1 ? "at least one argument" : `at least ${n === 2 ? "two" : n} arguments`): void => {
    if (args.length < n) throw ctx.error(`${keyword} requires ${what}`, node.range);
  };
  const exactlyOne = (): ArgumentNode => {
    if (args.length !== 1) throw ctx.error(`${keyword} requires exactly one argument`, args[1]?.range ?? node.range);
    return args[0]!;
  };

  switch (name) {
    case "from": {
      if (args.length !== 1 && args.length !== 3) {
        throw ctx.error("FROM requires either one or three arguments (FROM image [AS name])", args[1]?.range ?? node.range);
      }
      let stageName: string | undefined;
      let stageNameRaw: string | undefined;
      let stageNameRange: SourceRange | undefined;
      if (args.length === 3) {
        if (args[1]!.value.toLowerCase() !== "as") throw ctx.error(`second argument should be AS, not ${args[1]!.value}`, args[1]!.range);
        stageNameRaw = args[2]!.value;
        stageName = stageNameRaw.toLowerCase();
        stageNameRange = args[2]!.range;
        if (!hasVariable(stageName) && !STAGE_NAME.test(stageName)) {
          throw ctx.error(`invalid name for build stage: "${args[2]!.value}", name can't start with a number or contain symbols`, args[2]!.range);
        }
      }
      return { kind: "from", ...base, image: word(args[0]!, true), stageName, stageNameRaw, stageNameRange, platform: flagWord(flags.string("platform")) };
    }
    case "run": {
      atLeast(1);
      const mounts: Mount[] = flags.list("mount").map((f) => {
        try {
          return parseMountSpec(f.value ?? "", f.range);
        } catch (err) {
          if (err instanceof MountSpecError) throw ctx.error(`invalid --mount: ${err.message}`, f.range);
          throw err;
        }
      });
      const network = flags.string("network");
      if (network !== undefined && !hasVariable(network.value!) && !["default", "none", "host"].includes(network.value!)) {
        throw ctx.error(`network mode "${network.value}" not supported (use default, none or host)`, network.range);
      }
      const security = flags.string("security");
      if (security !== undefined && !hasVariable(security.value!) && !["sandbox", "insecure"].includes(security.value!)) {
        throw ctx.error(`security mode "${security.value}" not supported (use sandbox or insecure)`, security.range);
      }
      return {
        kind: "run",
        ...base,
        command: commandLine(node, args, node.argsRange),
        heredocs: node.heredocs.map(heredoc),
        mounts,
        network: network?.value,
        security: security?.value,
      };
    }
    case "cmd":
      return { kind: "cmd", ...base, command: commandLine(node, args, node.argsRange) };
    case "entrypoint":
      return { kind: "entrypoint", ...base, command: commandLine(node, args, node.argsRange) };
    case "shell":
      if (!node.json) throw ctx.error('SHELL requires the arguments to be in JSON form, e.g. SHELL ["/bin/bash", "-c"]', node.argsRange);
      atLeast(1);
      return { kind: "shell", ...base, shell: args.map((a) => a.value) };
    case "env":
    case "label": {
      atLeast(1);
      const pairs: KeyValue[] = [];
      for (let i = 0; i + 2 < args.length; i += 3) {
        const key = args[i]!;
        if (key.value === "") throw ctx.error(`${keyword} names can not be blank`, key.range);
        pairs.push({ key: word(key, true), value: word(args[i + 1]!, true), legacy: args[i + 2]!.value === "" });
      }
      return name === "env" ? { kind: "env", ...base, vars: pairs } : { kind: "label", ...base, labels: pairs };
    }
    case "maintainer":
      return { kind: "maintainer", ...base, maintainer: exactlyOne().value };
    case "expose":
      atLeast(1);
      for (const a of args) {
        if (!hasVariable(a.value) && !isValidPortSpec(a.value)) throw ctx.error(`invalid port: ${a.value} (use PORT[/tcp|/udp|/sctp] or START-END)`, a.range);
      }
      return { kind: "expose", ...base, ports: args.map((a) => word(a, true)) };
    case "add":
    case "copy":
      return fileCopy(name, node, flags, ctx);
    case "volume":
      atLeast(1);
      for (const a of args) if (a.value.trim() === "") throw ctx.error("VOLUME specified can not be an empty string", a.range);
      return { kind: "volume", ...base, paths: args.map((a) => word(a, true)), json: node.json };
    case "user":
      return { kind: "user", ...base, user: word(exactlyOne(), true) };
    case "workdir":
      return { kind: "workdir", ...base, path: word(exactlyOne(), true) };
    case "stopsignal": {
      const sig = exactlyOne();
      if (!hasVariable(sig.value) && !isValidSignal(sig.value)) throw ctx.error(`invalid signal: ${sig.value}`, sig.range);
      return { kind: "stopsignal", ...base, signal: word(sig, true) };
    }
    case "arg": {
      atLeast(1);
      const decls: ArgDeclaration[] = args.map((a) => {
        const eq = a.value.indexOf("=");
        const nameText = eq < 0 ? a.value : a.value.slice(0, eq);
        if (nameText === "") throw ctx.error("ARG names can not be blank", a.range);
        if (eq < 0) return { name: word(a, true), defaultValue: undefined };
        const r = a.range;
        const nameRange = new Span(r.start.line, r.start.column, r.start.offset, r.start.line, r.start.column + eq, r.start.offset + eq);
        const valueRange = new Span(r.start.line, r.start.column + eq + 1, r.start.offset + eq + 1, r.end.line, r.end.column, r.end.offset);
        return {
          name: { raw: nameText, expand: true, range: nameRange },
          defaultValue: { raw: a.value.slice(eq + 1), expand: true, range: valueRange },
        };
      });
      return { kind: "arg", ...base, args: decls };
    }
    case "onbuild": {
      const child = node.child;
      if (child === undefined) throw ctx.error("ONBUILD requires at least one argument", node.range);
      if (child.name === "onbuild") throw ctx.error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", child.keywordRange);
      if (child.name === "from" || child.name === "maintainer") {
        throw ctx.error(`${child.name.toUpperCase()} isn't allowed as an ONBUILD trigger`, child.keywordRange);
      }
      return { kind: "onbuild", ...base, expression: child.original, trigger: toInstruction(child, ctx) };
    }
    case "healthcheck": {
      atLeast(1);
      const type = args[0]!.value.toUpperCase();
      const durations = {
        interval: duration("interval"),
        timeout: duration("timeout"),
        startPeriod: duration("start-period"),
        startInterval: duration("start-interval"),
      };
      const retriesFlag = flags.string("retries");
      let retries: number | undefined;
      if (retriesFlag !== undefined) {
        if (!/^[-+]?\d+$/.test(retriesFlag.value!)) throw ctx.error(`invalid --retries value: ${retriesFlag.value}`, retriesFlag.range);
        retries = Number(retriesFlag.value);
        if (retries < 0) throw ctx.error(`--retries cannot be negative (${retries})`, retriesFlag.range);
      }
      if (type === "NONE") {
        if (args.length > 1) throw ctx.error("HEALTHCHECK NONE takes no arguments", args[1]!.range);
        return { kind: "healthcheck", ...base, disable: true, command: undefined, ...durations, retries };
      }
      if (type !== "CMD") throw ctx.error(`unknown type "${args[0]!.value}" in HEALTHCHECK (try CMD)`, args[0]!.range);
      if (args.length < 2) throw ctx.error("missing command after HEALTHCHECK CMD", args[0]!.range);
      return { kind: "healthcheck", ...base, disable: false, command: commandLine(node, args.slice(1), node.argsRange), ...durations, retries };
    }
  }

  function duration(flagName: string): number | undefined {
    const f = flags.string(flagName);
    if (f === undefined) return undefined;
    const ns = parseGoDuration(f.value!);
    if (ns === undefined) throw ctx.error(`invalid duration for --${flagName}: ${f.value} (e.g. 30s, 1m30s)`, f.range);
    if (ns < 0) throw ctx.error(`--${flagName} cannot be negative: ${f.value}`, f.range);
    if (ns !== 0 && ns < 1e6) throw ctx.error(`--${flagName} "${f.value}" cannot be less than 1ms`, f.range);
    return ns;
  }
}

function fileCopy(
  name: "add" | "copy",
  node: InstructionNode,
  flags: ReturnType<typeof parseFlags>,
  ctx: InstructionContext,
): AddInstruction | CopyInstruction {
  const args = node.args;
  const keyword = name.toUpperCase();
  if (args.length < 2) {
    throw ctx.error(`${keyword} requires at least two arguments, but only ${args.length === 0 ? "none was" : "one was"} provided. Destination could not be determined`, node.range);
  }
  const chmod = flags.string("chmod");
  if (chmod !== undefined && !hasVariable(chmod.value!) && !isValidChmod(chmod.value!)) {
    throw ctx.error(`invalid --chmod value "${chmod.value}" (use octal like 0755 or symbolic like u+x)`, chmod.range);
  }
  const sources = args.slice(0, -1).map((a) => word(a, true));
  const destination = word(args[args.length - 1]!, true);
  const common = {
    range: node.range,
    node,
    sources,
    destination,
    heredocs: node.heredocs.map(heredoc),
    chown: flagWord(flags.string("chown")),
    chmod: flagWord(chmod),
    link: flags.bool("link"),
    exclude: flags.list("exclude").map((f) => flagWord(f)!),
    json: node.json,
  };
  if (name === "copy") {
    return { kind: "copy", ...common, from: flagWord(flags.string("from")), parents: flags.bool("parents") };
  }
  return {
    kind: "add",
    ...common,
    checksum: flagWord(flags.string("checksum")),
    keepGitDir: flags.bool("keep-git-dir"),
    unpack: flags.optionalBool("unpack"),
  };
}

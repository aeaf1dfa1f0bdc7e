/**
 * Typed Dockerfile instructions: one member of the `Instruction` union per instruction, each
 * with `kind`, `range` and its own fields. Values stay unexpanded (`$VAR` is resolved later by
 * the planner with `expandWord`/`expandWords` from src/shell/); a `Word` says whether
 * BuildKit expands it.
 */
import type { InstructionNode, SourceRange } from "../parser/ast.js";

/** A word from the Dockerfile, as written (quotes and `$VAR` kept), with its source range. */
export interface Word {
  /** The raw text: pass it to `expandWord(raw, env, { escapeToken })` when `expand` is true. */
  readonly raw: string;
  /**
   * True when BuildKit expands build args/ENV in this word (FROM, COPY/ADD, ENV, LABEL, ARG,
   * EXPOSE, USER, WORKDIR, VOLUME, STOPSIGNAL and their flags). False for values used verbatim
   * (exec-form JSON strings of RUN/CMD/ENTRYPOINT, shell-form commands: the shell expands those).
   */
  readonly expand: boolean;
  readonly range: SourceRange;
}

/** A command in shell form (`RUN make all`, run through SHELL) or exec form (`RUN ["make", "all"]`). */
export type CommandLine =
  | {
      readonly form: "shell";
      /** The command text, continuations joined; not expanded by the builder (the shell does). */
      readonly command: string;
      readonly range: SourceRange;
    }
  | {
      readonly form: "exec";
      /** The decoded JSON strings. */
      readonly args: readonly string[];
      readonly range: SourceRange;
    };

/** A heredoc body: for RUN a script (or an extra file on a descriptor), for COPY/ADD an inline source file. */
export interface Heredoc {
  readonly name: string;
  readonly fileDescriptor: number;
  /** Whether `$VAR`s in the content are expanded (unquoted delimiter). */
  readonly expand: boolean;
  /** `<<-`: leading tabs were stripped from `content`. */
  readonly chomp: boolean;
  /** The body, with leading tabs stripped for `<<-`. */
  readonly content: string;
  /**
   * The body as written (tabs kept): a RUN whose command goes on after the heredoc hands it to
   * the shell, which strips the tabs of `<<-` itself.
   */
  readonly raw: string;
  readonly range: SourceRange;
}

/** `KEY=value` (ENV, LABEL); `legacy` for the old `ENV KEY value` form. */
export interface KeyValue {
  readonly key: Word;
  readonly value: Word;
  readonly legacy: boolean;
}

interface Base<K extends string> {
  readonly kind: K;
  /** The whole instruction, heredoc bodies included. */
  readonly range: SourceRange;
  /** The syntax node it came from (keyword as written, original line, flag and argument ranges). */
  readonly node: InstructionNode;
}

/** `FROM [--platform=p] image [AS name]` */
export interface FromInstruction extends Base<"from"> {
  readonly image: Word;
  /** The stage name, lower-cased as BuildKit stores it; undefined without `AS`. */
  readonly stageName: string | undefined;
  /** The stage name as written (for messages). */
  readonly stageNameRaw: string | undefined;
  readonly stageNameRange: SourceRange | undefined;
  readonly platform: Word | undefined;
}

/** RUN --mount options, typed per mount type. Values are raw (may hold `$VAR`s). */
export type Mount = BindMount | CacheMount | TmpfsMount | SecretMount | SshMount;

interface MountBase {
  /** The flag value as written, e.g. `type=cache,target=/root/.cache`. */
  readonly spec: string;
  readonly range: SourceRange;
}

/** `type=bind` (the default): a read-only (unless `rw`) view of the context or of a stage/image. */
export interface BindMount extends MountBase {
  readonly type: "bind";
  readonly target: string;
  readonly source: string | undefined;
  readonly from: string | undefined;
  readonly readOnly: boolean;
}

/** `type=cache`: a persistent directory kept between builds. */
export interface CacheMount extends MountBase {
  readonly type: "cache";
  readonly target: string;
  /** Defaults to the target path, as in BuildKit. */
  readonly id: string;
  readonly sharing: "shared" | "private" | "locked";
  readonly source: string | undefined;
  readonly from: string | undefined;
  readonly readOnly: boolean;
  readonly mode: number | undefined;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
}

/** `type=tmpfs` */
export interface TmpfsMount extends MountBase {
  readonly type: "tmpfs";
  readonly target: string;
  /** Bytes; undefined = unlimited. */
  readonly size: number | undefined;
}

/** `type=secret`: a build secret as a file (default `/run/secrets/<id>`) or an env variable. */
export interface SecretMount extends MountBase {
  readonly type: "secret";
  readonly id: string;
  readonly target: string | undefined;
  readonly env: string | undefined;
  readonly required: boolean;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** `type=ssh`: an SSH agent socket. */
export interface SshMount extends MountBase {
  readonly type: "ssh";
  readonly id: string;
  readonly target: string | undefined;
  readonly required: boolean;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** `RUN [--mount=…] [--network=…] [--security=…] command` */
export interface RunInstruction extends Base<"run"> {
  readonly command: CommandLine;
  /** Heredocs: the first one with fd 0 is the script when the command is just `<<EOF`. */
  readonly heredocs: readonly Heredoc[];
  readonly mounts: readonly Mount[];
  /**
   * `--network` as written: a literal value is checked (default, none or host); one holding a
   * variable is refused when the step runs (the builder does not expand it, as BuildKit).
   */
  readonly network: string | undefined;
  /** `--security` as written: a literal value is checked (sandbox or insecure); a variable is expanded and checked when the step runs. */
  readonly security: string | undefined;
}

/** `CMD command` (an empty exec form `CMD []` clears the command). */
export interface CmdInstruction extends Base<"cmd"> {
  readonly command: CommandLine;
}

/** `ENTRYPOINT command` */
export interface EntrypointInstruction extends Base<"entrypoint"> {
  readonly command: CommandLine;
}

/** `LABEL k=v …` */
export interface LabelInstruction extends Base<"label"> {
  readonly labels: readonly KeyValue[];
}

/** `MAINTAINER text` (deprecated: sets the image's author). */
export interface MaintainerInstruction extends Base<"maintainer"> {
  readonly maintainer: string;
}

/** `EXPOSE 80 443/tcp 53/udp` */
export interface ExposeInstruction extends Base<"expose"> {
  readonly ports: readonly Word[];
}

/** `ENV k=v …` or `ENV k v` */
export interface EnvInstruction extends Base<"env"> {
  readonly vars: readonly KeyValue[];
}

interface FileCopyBase<K extends "add" | "copy"> extends Base<K> {
  /** Source paths/URLs (for heredoc sources, the `<<EOF` word; see `heredocs`). */
  readonly sources: readonly Word[];
  readonly destination: Word;
  /** Heredoc sources, each an inline file named after its delimiter. */
  readonly heredocs: readonly Heredoc[];
  readonly chown: Word | undefined;
  /** `--chmod`: octal (`0755`) or symbolic (`u+x`); checked when it holds no variable. */
  readonly chmod: Word | undefined;
  readonly link: boolean;
  readonly exclude: readonly Word[];
  /** Whether the sources were given as a JSON array. */
  readonly json: boolean;
}

/** `COPY [--from=stage] [--chown] [--chmod] [--link] [--parents] [--exclude=…] src… dest` */
export interface CopyInstruction extends FileCopyBase<"copy"> {
  readonly from: Word | undefined;
  readonly parents: boolean;
}

/** `ADD [--chown] [--chmod] [--link] [--checksum=…] [--keep-git-dir] [--exclude=…] [--unpack] src… dest` */
export interface AddInstruction extends FileCopyBase<"add"> {
  readonly checksum: Word | undefined;
  readonly keepGitDir: boolean;
  /** `--unpack[=bool]`: undefined = default (archives from the context are unpacked, remote ones not). */
  readonly unpack: boolean | undefined;
}

/** `VOLUME /a /b` or `VOLUME ["/a"]` */
export interface VolumeInstruction extends Base<"volume"> {
  readonly paths: readonly Word[];
  /** JSON form: each path is one word; otherwise a path's expansion is split into words. */
  readonly json: boolean;
}

/** `USER name[:group]` */
export interface UserInstruction extends Base<"user"> {
  readonly user: Word;
}

/** `WORKDIR /path` */
export interface WorkdirInstruction extends Base<"workdir"> {
  readonly path: Word;
}

/** One ARG declaration: `NAME` or `NAME=default`. */
export interface ArgDeclaration {
  /** The name as written (BuildKit expands it too). */
  readonly name: Word;
  /** The default value, raw (quotes kept); undefined for `ARG NAME`. */
  readonly defaultValue: Word | undefined;
}

/** `ARG A B=2 …` */
export interface ArgInstruction extends Base<"arg"> {
  readonly args: readonly ArgDeclaration[];
}

/** `ONBUILD <instruction>`: the trigger is recorded in the image and runs in child builds. */
export interface OnbuildInstruction extends Base<"onbuild"> {
  /** The trigger as it is stored in the image config (`RUN echo hi`). */
  readonly expression: string;
  /** The trigger, typed and validated (never FROM, MAINTAINER or ONBUILD). */
  readonly trigger: Instruction;
}

/** `STOPSIGNAL SIGTERM` */
export interface StopsignalInstruction extends Base<"stopsignal"> {
  readonly signal: Word;
}

/** `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=…] … CMD command` */
export interface HealthcheckInstruction extends Base<"healthcheck"> {
  /** True for `HEALTHCHECK NONE` (disables a health check inherited from the base image). */
  readonly disable: boolean;
  /** The test command (undefined for NONE). Shell form runs as `CMD-SHELL`. */
  readonly command: CommandLine | undefined;
  /** Durations in nanoseconds, as in the image config; undefined = not set. */
  readonly interval: number | undefined;
  readonly timeout: number | undefined;
  readonly startPeriod: number | undefined;
  readonly startInterval: number | undefined;
  readonly retries: number | undefined;
}

/** `SHELL ["executable", "parameters"]` (JSON form only). */
export interface ShellInstruction extends Base<"shell"> {
  readonly shell: readonly string[];
}

/** Every Dockerfile instruction; `switch (ins.kind)` and let the compiler check exhaustiveness. */
export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | LabelInstruction
  | MaintainerInstruction
  | ExposeInstruction
  | EnvInstruction
  | AddInstruction
  | CopyInstruction
  | EntrypointInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | ArgInstruction
  | OnbuildInstruction
  | StopsignalInstruction
  | HealthcheckInstruction
  | ShellInstruction;

export type InstructionKind = Instruction["kind"];

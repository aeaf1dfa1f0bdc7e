/**
 * The Dockerfile syntax tree: what BuildKit's parser produces (frontend/dockerfile/parser),
 * with source ranges added. It knows no instruction's meaning: `src/instructions/` turns these
 * nodes into typed, validated instructions.
 */

/** A point in the source: 1-based line and column (UTF-16 code units), 0-based offset. */
export interface Position {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}

/** A half-open source range: `end` is the position just after the last character. */
export interface SourceRange {
  readonly start: Position;
  readonly end: Position;
}

/** The parser directives BuildKit recognises at the top of a Dockerfile. */
export type DirectiveName = "syntax" | "escape" | "check";

/** `# syntax=docker/dockerfile:1`, `# escape=\``, `# check=skip=all` */
export interface Directive {
  readonly name: DirectiveName;
  readonly value: string;
  readonly range: SourceRange;
}

/** The escape character: `\` by default, `` ` `` with `# escape=\`` (Windows-style Dockerfiles). */
export type EscapeToken = "\\" | "`";

/**
 * A builder flag before an instruction's arguments (`--chown=1:1`). `text` is the flag as
 * BuildKit reports it (quotes removed, `\x` escapes resolved, always with backslash).
 */
export interface FlagNode {
  /** e.g. `--chown=1:1`, `--link`, `--mount=type=cache,target=/root/.cache` */
  readonly text: string;
  /** The name without dashes: `chown`. */
  readonly name: string;
  /** The value after the first `=`, or undefined for a bare flag (`--link`). */
  readonly value: string | undefined;
  readonly range: SourceRange;
}

/**
 * One argument as BuildKit's parser splits it (one element of its `Next` chain). Values are raw:
 * quotes, `$VAR` and escapes are kept for the shell-form instructions; exec-form (JSON) values
 * are the decoded JSON strings.
 */
export interface ArgumentNode {
  readonly value: string;
  /** Where the argument's text lies in the source (for a JSON string, including its quotes). */
  readonly range: SourceRange;
}

/** A here-document attached to RUN, COPY or ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`). */
export interface HeredocNode {
  /** The terminator word with quotes removed. */
  readonly name: string;
  /** The file descriptor prefix (`3<<EOF`), 0 when absent. */
  readonly fileDescriptor: number;
  /** False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no variable expansion. */
  readonly expand: boolean;
  /** `<<-`: leading tabs are stripped from the content (and allowed before the terminator). */
  readonly chomp: boolean;
  /** The body exactly as written (line endings kept, tabs not yet stripped). */
  readonly content: string;
  /** From the first body line to the end of the terminator line. */
  readonly range: SourceRange;
}

/** One instruction (logical line, continuation lines joined) and its heredoc bodies. */
export interface InstructionNode {
  /** The instruction keyword as written (`Run`); empty for a line of nothing but escapes. */
  readonly keyword: string;
  /** The keyword lower-cased (`run`): the key for dispatch. */
  readonly name: string;
  readonly flags: readonly FlagNode[];
  /**
   * The arguments, split per instruction exactly as BuildKit's line parsers do:
   * - RUN/CMD/ENTRYPOINT/SHELL: shell form = one argument (the whole command), exec form = the JSON strings;
   * - ADD/COPY/VOLUME: JSON strings, or whitespace-separated words;
   * - ENV/LABEL: triples (key, value, separator) where separator is `=` or `` (legacy `ENV k v`);
   * - ARG: the words (`name` or `name=default`, quotes kept);
   * - HEALTHCHECK: the type (`CMD`/`NONE`/…) then the command as for CMD;
   * - FROM/EXPOSE: whitespace-separated words; USER/WORKDIR/STOPSIGNAL/MAINTAINER: one argument;
   * - ONBUILD: none (see `child`); unknown instructions: none.
   */
  readonly args: readonly ArgumentNode[];
  /** True when the arguments were given in exec (JSON array) form. */
  readonly json: boolean;
  /** The instruction line with continuations joined (BuildKit's `Original`). */
  readonly original: string;
  /** The text after keyword and flags, trimmed (what the line parser split into `args`). */
  readonly argsText: string;
  readonly argsRange: SourceRange;
  readonly keywordRange: SourceRange;
  /** ONBUILD's nested instruction. */
  readonly child: InstructionNode | undefined;
  readonly heredocs: readonly HeredocNode[];
  /** The comment lines right before the instruction (BuildKit's PrevComment). */
  readonly comments: readonly string[];
  /** From the keyword to the end of the last line (heredoc terminator included). */
  readonly range: SourceRange;
  /** 1-based first and last line, as BuildKit's StartLine/EndLine. */
  readonly startLine: number;
  readonly endLine: number;
}

/** A non-fatal finding, e.g. BuildKit's "Empty continuation line" warning. */
export interface ParseWarning {
  readonly message: string;
  readonly range: SourceRange;
}

/** The result of `parse`. */
export interface DockerfileAst {
  readonly file: string;
  readonly directives: readonly Directive[];
  readonly escapeToken: EscapeToken;
  readonly instructions: readonly InstructionNode[];
  readonly warnings: readonly ParseWarning[];
}

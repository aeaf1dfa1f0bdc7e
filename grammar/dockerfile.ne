# The Dockerfile grammar: a file is parser directives, then instructions between runs of blank
# and comment lines; an instruction is a keyword, builder flags and the argument form its
# keyword calls for (BuildKit's dispatch table in frontend/dockerfile/parser/parser.go and
# line_parsers.go).
#
# Tokens come from src/parser/lexer.ts, which joins continued lines (and skips the blank and
# comment lines among them, as BuildKit does) and reads the escape directive, and from
# src/parser/line-lexer.ts, whose moo states split the joined line: a keyword token names the
# instruction's family (`kwRun`, `kwNameVal` …), whose state reads the arguments after the
# flags. A JSON array and a blank-split list are one token each, and so is a run of flags, of
# ARG/ENV/LABEL words or of shell words between heredoc openers; blanks never reach the
# grammar. When the line opens heredocs, their bodies follow its tokens as one `heredocs`
# token. `endLine` ends an instruction: it carries the logical line.
#
# parse.ts runs this grammar item by item (start symbol `item`; an instruction from its
# keyword's `…Line` symbol), each from the same saved start column (nearley's save/restore).
# Terminals are token types only, so nearley parses an item once per sequence of token types:
# the rules' postprocessors then run on the derivation it found, for every item of those
# types. `dockerfile` states the whole file's shape.
#
# Lists are left-recursive (right recursion is quadratic in nearley) and built in place
# (appendToken …): the grammar is unambiguous, so no completed list is shared by two parses.
#
# Compiled by `npm run grammar` to src/parser/grammar.generated.ts (never edit that file).
@preprocessor typescript

@{%
import { placeholderLexer } from "./lexer.js";
import * as a from "./grammar-actions.js";
// nearley resolves %token references through this object; each parse passes its own lexer
// to the Parser (see parse.ts).
const lexer = placeholderLexer;
%}

@lexer lexer

# An item: a run of blank/comment lines, or an instruction: a keyword, its flags and its
# arguments (and the heredoc bodies the line opens), up to the end of the line; a line of
# nothing but escapes and blanks has no keyword.
item -> %trivia {% a.trivia %}
  | command %endLine {% a.instruction %}
  | %endLine {% a.emptyInstruction %}

# The whole file: parser directives only at the very top, then items.
dockerfile -> directive:* item:* {% a.fileItems %}

directive -> %directive {% a.directiveItem %}

# The keyword decides how the rest of the line reads: flags, then its family's argument form.
# parse.ts reads an instruction from the start column of its keyword's `…Line` symbol, so
# that predicting the flags and argument forms of a family is done once, not per line.
command -> %kwShell shellLine {% a.command %}
  | %kwRun runLine {% a.command %}
  | %kwCopy copyLine {% a.command %}
  | %kwVolume volumeLine {% a.command %}
  | %kwList listLine {% a.command %}
  | %kwArg wordLine {% a.command %}
  | %kwNameVal nameValLine {% a.command %}
  | %kwHealth healthLine {% a.command %}
  | %kwString stringLine {% a.command %}
  | %kwOnbuild onbuildLine {% a.command %}
  | %kwOther otherLine {% a.command %}

shellLine -> flags shellArgs {% a.line %}
runLine -> flags runArgs {% a.line %}
copyLine -> flags copyArgs {% a.line %}
volumeLine -> flags volumeArgs {% a.line %}
listLine -> flags listArgs {% a.line %}
wordLine -> flags wordArgs {% a.line %}
nameValLine -> flags nameValArgs {% a.line %}
healthLine -> flags healthArgs {% a.line %}
stringLine -> flags stringArgs {% a.line %}
onbuildLine -> flags onbuildArgs {% a.line %}
otherLine -> flags otherArgs {% a.line %}

# `--name=value` words before the arguments (one run token); a lone `--` ends them.
flags -> null {% a.noFlags %}
  | %flags {% a.flags %}
  | %flagsEnd {% a.noFlags %}
  | %flags %flagsEnd {% a.flags %}

# CMD, ENTRYPOINT, SHELL: exec form (a JSON array of strings, one token) or shell form (one
# text). A JSON array holding anything but strings is an error.
shellArgs -> null {% a.noArgs %}
  | %json {% a.execForm %}
  | %shellText {% a.oneText %}
  | %notStrings {% a.notStrings %}

# RUN: as CMD; a shell form holding `<<` is read as shell words, among them heredoc openers,
# followed by the bodies of the heredocs they open. (The alternatives of shellArgs are
# repeated rather than referred to: each rule layer costs nearley states.)
runArgs -> null {% a.noArgs %}
  | %json {% a.execForm %}
  | %shellText {% a.oneText %}
  | %notStrings {% a.notStrings %}
  | shellWords {% a.shellWordsText %}
  | shellWords %heredocs {% a.shellWordsText %}

# (`shellWords`: the words between heredoc openers, one run token.)
shellWords -> %shellWords {% a.firstToken %}
  | %heredoc {% a.firstToken %}
  | shellWords %shellWords {% a.appendToken %}
  | shellWords %heredoc {% a.appendToken %}

# COPY, ADD: as VOLUME; a text holding `<<` is read as shell words, then split on blanks.
copyArgs -> null {% a.noArgs %}
  | %json {% a.execForm %}
  | %notStrings {% a.notStrings %}
  | %list {% a.list %}
  | copyShellWords {% a.shellWordsList %}
  | copyShellWords %heredocs {% a.shellWordsList %}

copyShellWords -> %shellWords {% a.firstSplit %}
  | %heredoc {% a.firstSplit %}
  | copyShellWords %shellWords {% a.appendSplit %}
  | copyShellWords %heredoc {% a.appendSplit %}

# VOLUME: a JSON array, or a list of words split on blanks (one token).
volumeArgs -> null {% a.noArgs %}
  | %json {% a.execForm %}
  | %notStrings {% a.notStrings %}
  | %list {% a.list %}

# FROM, EXPOSE: a list of words split on blanks.
listArgs -> null {% a.noArgs %}
  | %list {% a.list %}

# ARG: shell-quoted words (`name`, `name=default`; one run token). An escape character ending the
# line is no word; alone, it still starts the argument text.
wordArgs -> null {% a.noArgs %}
  | %danglingEscape {% a.noArgsFrom %}
  | %words {% a.words %}

# ENV, LABEL: `key=value` words (one run token, whose first word holds `=`; a later word without
# `=` is an error), or the legacy `key value…` when the first word has no `=`.
nameValArgs -> null {% a.noArgs %}
  | %danglingEscape {% a.noArgsFrom %}
  | %legacyKey %legacyValue {% a.legacyNameVal %}
  | %legacyKey {% a.legacyKeyOnly %}
  | %words {% a.pairs %}

# HEALTHCHECK: the type (CMD, NONE …), then the command as for CMD.
healthArgs -> null {% a.noArgs %}
  | %healthType shellArgs {% a.healthArgs %}

# USER, WORKDIR, STOPSIGNAL, MAINTAINER: one text.
stringArgs -> null {% a.noArgs %}
  | %text {% a.oneText %}

# ONBUILD: the instruction it holds.
onbuildArgs -> null {% a.noArgs %}
  | command {% a.subCommand %}

# Any other keyword: BuildKit keeps its text unparsed.
otherArgs -> null {% a.noArgs %}
  | %ignored {% a.ignored %}

# The Dockerfile grammar: a file is parser directives, then instructions between runs of blank
# and comment lines; an instruction is a keyword, builder flags and the argument form its
# keyword calls for (BuildKit's dispatch table in frontend/dockerfile/parser/parser.go and
# line_parsers.go).
#
# Tokens come from src/parser/lexer.ts, which joins continued lines (and skips the blank and
# comment lines among them, as BuildKit does) and reads the escape directive, and from
# src/parser/line-lexer.ts, whose moo states split the joined line: a keyword token names the
# instruction's family (`kwRun`, `kwNameVal` …) and switches to that family's state. Blanks
# never reach the grammar. After an instruction's tokens comes `endLine`, or `heredocLine`
# followed by `heredocs` (the bodies) when the line opened heredocs.
#
# parse.ts runs this grammar on chunks of a few hundred items (start symbol `chunk`): Earley
# states of a left-recursive list keep every earlier item reachable, and holding a whole 1 MB
# file's chart made garbage collection cost five times the parse itself, while a fresh parser
# per item costs more than the item. `dockerfile` states the whole file's shape.
#
# Lists are left-recursive (right recursion is quadratic in nearley) and built in place
# (appendInstruction, appendWord …): the grammar is unambiguous and every list completes on
# its last token, so no completed list is shared by two parses.
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

# A run of items: what one nearley parser reads. An item is a run of blank/comment lines, or
# an instruction: a keyword, its flags and its arguments, up to the end of the line (and the
# heredoc bodies the line opens); a line of nothing but escapes and blanks has no keyword.
# Every argument form ends with the line's end token, so that an instruction completes once,
# on its last token, rather than after each of its tokens. (Items are not a rule of their own:
# each rule layer costs nearley states at every item.)
chunk -> %trivia {% a.firstTrivia %}
  | command {% a.firstInstruction %}
  | %endLine {% a.firstEmptyInstruction %}
  | chunk %trivia {% a.appendTrivia %}
  | chunk command {% a.appendInstruction %}
  | chunk %endLine {% a.appendEmptyInstruction %}

# The whole file: parser directives only at the very top, then items.
dockerfile -> directive:* chunk:? {% a.fileItems %}

directive -> %directive {% a.directiveItem %}

# The keyword decides how the arguments read.
command -> %kwShell flags shellArgs {% a.command %}
  | %kwRun flags runArgs {% a.command %}
  | %kwCopy flags copyArgs {% a.command %}
  | %kwVolume flags volumeArgs {% a.command %}
  | %kwList flags listArgs {% a.command %}
  | %kwArg flags wordArgs {% a.command %}
  | %kwNameVal flags nameValArgs {% a.command %}
  | %kwHealth flags healthArgs {% a.command %}
  | %kwString flags stringArgs {% a.command %}
  | %kwOnbuild flags onbuildArgs {% a.command %}
  | %kwOther flags otherArgs {% a.command %}

# `--name=value` words before the arguments; a lone `--` ends them.
flags -> null {% a.emptyList %}
  | flags %flag {% a.appendToken %}
  | flags %flagsEnd {% id %}

# CMD, ENTRYPOINT, SHELL: exec form (a JSON array of strings) or shell form (one text). A JSON
# array holding anything but strings is an error.
shellArgs -> %endLine {% a.noArgs %}
  | execForm %endLine {% a.withEnd %}
  | %shellText %endLine {% a.oneText %}
  | %notStrings %endLine {% a.notStrings %}

execForm -> %jsonOpen %rbracket {% a.emptyExecForm %}
  | %jsonOpen jsonStrings %rbracket {% a.execForm %}

jsonStrings -> %jsonString {% a.firstWord %}
  | jsonStrings %comma %jsonString {% a.appendWord %}

# RUN: as CMD; a shell form holding `<<` is read as shell words, among them heredoc openers,
# and the line is followed by the bodies of the heredocs it opens.
runArgs -> shellArgs {% id %}
  | shellWords heredocEnd {% a.shellWordsText %}

shellWords -> %shellWord {% a.firstToken %}
  | %heredoc {% a.firstToken %}
  | shellWords %shellWord {% a.appendToken %}
  | shellWords %heredoc {% a.appendToken %}

heredocEnd -> %endLine {% a.lineEnd %}
  | %heredocLine %heredocs {% a.lineEnd %}

# COPY, ADD: a JSON array, or words split on blanks (shell words, then split on blanks, when
# heredocs may open).
copyArgs -> volumeArgs {% id %}
  | copyShellWords heredocEnd {% a.words %}

copyShellWords -> %shellWord {% a.firstSplit %}
  | %heredoc {% a.firstSplit %}
  | copyShellWords %shellWord {% a.appendSplit %}
  | copyShellWords %heredoc {% a.appendSplit %}

# VOLUME: a JSON array, or words split on blanks.
volumeArgs -> %endLine {% a.noArgs %}
  | execForm %endLine {% a.withEnd %}
  | %notStrings %endLine {% a.notStrings %}
  | %listText %endLine {% a.listText %}
  | listWords %endLine {% a.words %}

# FROM, EXPOSE: words split on blanks.
listArgs -> %endLine {% a.noArgs %}
  | listWords %endLine {% a.words %}

listWords -> %listWord {% a.firstWord %}
  | listWords %listWord {% a.appendWord %}

# ARG: shell-quoted words (`name`, `name=default`). An escape character ending the line is no
# word; alone, it still starts the argument text.
wordArgs -> %endLine {% a.noArgs %}
  | %danglingEscape %endLine {% a.noArgsFrom %}
  | words %endLine {% a.words %}

words -> %word {% a.firstWord %}
  | words %word {% a.appendWord %}

# ENV, LABEL: `key=value` words, or the legacy `key value…` when the first word has no `=`.
nameValArgs -> %endLine {% a.noArgs %}
  | %danglingEscape %endLine {% a.noArgsFrom %}
  | %legacyKey %legacyValue %endLine {% a.legacyNameVal %}
  | %legacyKeyOnly %endLine {% a.legacyKeyOnly %}
  | pairs %endLine {% a.pairs %}

pairs -> %pair {% a.firstPair %}
  | pairs %pair {% a.appendPair %}
  | pairs %word {% a.appendPair %}

# HEALTHCHECK: the type (CMD, NONE …), then the command as for CMD.
healthArgs -> %endLine {% a.noArgs %}
  | %healthType shellArgs {% a.healthArgs %}

# USER, WORKDIR, STOPSIGNAL, MAINTAINER: one text.
stringArgs -> %endLine {% a.noArgs %}
  | %stringArg %endLine {% a.oneText %}

# ONBUILD: the instruction it holds.
onbuildArgs -> %endLine {% a.noArgs %}
  | command {% a.subCommand %}

# Any other keyword: BuildKit keeps its text unparsed.
otherArgs -> %endLine {% a.noArgs %}
  | %ignored %endLine {% a.ignored %}

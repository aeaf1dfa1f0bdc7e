# The Dockerfile grammar. Tokens come from src/parser/lexer.ts (a stateful moo lexer and the
# stream around it), a few per instruction: `continued` (the lines before an instruction's last
# line: each ends in the escape character, with the blank and comment lines among them, which
# BuildKit skips), `endLine` (an instruction's last line), `heredocLine` (a last line that opens
# heredocs) and `heredocs` (their bodies); between instructions, `trivia` (runs of blank and
# comment lines); at the top, `directive`s. Splitting an instruction line into keyword, flags
# and arguments is BuildKit's per-instruction line parsing, done afterwards in plain TypeScript
# (src/parser/line-parser.ts): nearley costs about a microsecond per token, and a token per
# word (or per continued line: one RUN of 40,000 lines took a second) would dominate.
#
# parse.ts runs this grammar on chunks of a few hundred items (start symbol `chunk`): Earley
# states of a left-recursive list keep every earlier item reachable, and holding a whole 1 MB
# file's chart made garbage collection cost five times the parse itself, while a fresh parser
# per item costs more than the item. `dockerfile` states the whole file's shape.
#
# Every rule completes on its last token, so the in-place append of `chunk` never sees a
# completion that a later token discards.
#
# Compiled by `npm run grammar` to src/parser/grammar.generated.ts (never edit that file).
@preprocessor typescript

@{%
import { placeholderLexer } from "./lexer.js";
import { lastLineItem, triviaItem, directiveItem, fileItems, firstItem, appendItem } from "./grammar-actions.js";
// nearley resolves %token references through this object; each parse passes its own lexer
// to the Parser (see parse.ts).
const lexer = placeholderLexer;
%}

@lexer lexer

# A run of items: what one nearley parser reads.
chunk -> item {% firstItem %}
  | chunk item {% appendItem %}

# One top-level item: a run of blank/comment lines, or an instruction.
item -> %trivia {% triviaItem %}
  | lastLine {% id %}
  | %continued lastLine {% second %}

# An instruction's last line; one that opens heredocs is followed by their bodies.
lastLine -> %endLine {% lastLineItem %}
  | %heredocLine %heredocs {% lastLineItem %}

# The whole file: parser directives only at the very top, then items.
dockerfile -> directive:* item:* {% fileItems %}

directive -> %directive {% directiveItem %}

@{%
function second(d: unknown[]): unknown {
  return d[1];
}
%}

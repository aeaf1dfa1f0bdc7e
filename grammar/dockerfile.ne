# The Dockerfile grammar. Tokens come from src/parser/lexer.ts: one per physical line
# (`contLine` ends in the escape character, `endLine` does not, `heredocLine` is an `endLine`
# that opens heredocs), runs of blank and comment lines (`trivia`), the parser directives at
# the top, and the heredoc bodies after the instruction that opens them (`heredocs`, all bodies
# in one token). Splitting an instruction line into keyword, flags and arguments is BuildKit's
# per-instruction line parsing, done afterwards in plain TypeScript (src/parser/line-parser.ts):
# a token per word would make nearley several times slower.
#
# parse.ts runs this grammar on chunks of a few hundred items (start symbol `chunk`): Earley
# states of a left-recursive list keep every earlier item reachable, and holding a whole 1 MB
# file's chart made garbage collection cost five times the parse itself, while a fresh parser
# per item costs more than the item. `dockerfile` states the whole file's shape.
#
# Compiled by `npm run grammar` to src/parser/grammar.generated.ts (never edit that file).
@preprocessor typescript

@{%
import { placeholderLexer } from "./lexer.js";
import { lastLineItem, instructionItem, triviaItem, directiveItem, fileItems, firstItem, appendItem } from "./grammar-actions.js";
// nearley resolves %token references through this object; each parse passes its own lexer
// to the Parser (see parse.ts).
const lexer = placeholderLexer;
%}

@lexer lexer

chunk -> item {% firstItem %}
  | chunk item {% appendItem %}

# One top-level item: a run of blank/comment lines, or an instruction.
item -> %trivia {% triviaItem %}
  | instruction {% id %}

# An instruction: its continued lines (with blank and comment lines in between) and the line
# that ends it; a last line that opens heredocs is followed by their bodies.
instruction -> %endLine {% lastLineItem %}
  | %heredocLine %heredocs {% lastLineItem %}
  | continued %endLine {% instructionItem %}
  | continued %heredocLine %heredocs {% instructionItem %}

continued -> %contLine {% nothing %}
  | continued %contLine {% nothing %}
  | continued %trivia {% nothing %}

# The whole file: parser directives only at the very top, then items.
dockerfile -> directive:* item:* {% fileItems %}

directive -> %directive {% directiveItem %}

@{%
function nothing(): null {
  return null;
}
%}

# The Dockerfile grammar. Tokens come from src/parser/lexer.ts: one per physical line
# (`contLine` ends in the escape character, `endLine` does not), runs of blank and comment lines
# (`trivia`), the parser directives at the top, and the heredoc bodies after the instruction
# that opens them. Splitting an instruction line into keyword, flags and arguments is BuildKit's
# per-instruction line parsing, done afterwards in plain TypeScript (src/parser/line-parser.ts):
# a token per word would make nearley five times slower.
#
# Compiled by `npm run grammar` to src/parser/grammar.generated.ts (never edit that file).
@preprocessor typescript

@{%
import { placeholderLexer } from "./lexer.js";
import { fileItems, instructionItem, appendItem, emptyItems } from "./grammar-actions.js";
// nearley resolves %token references through this object; each parse passes its own
// DockerfileTokenStream to the Parser (see parse.ts).
const lexer = placeholderLexer;
%}

@lexer lexer

# Directives only at the very top; then any mix of blank/comment runs and instructions.
dockerfile -> %directive:* body {% fileItems %}

body -> null {% emptyItems %}
  | body %trivia {% appendItem %}
  | body instruction {% appendItem %}

# An instruction: its continued lines (with blank and comment lines in between) and the line
# that ends it; a last line that opens heredocs (`heredocLine`) is followed by their bodies,
# all in one token, so that every instruction completes on its last token (the body list is
# appended to in place, which is only safe if nothing completes early).
instruction -> continued:? %endLine {% instructionItem %}
  | continued:? %heredocLine %heredocs {% instructionItem %}

continued -> %contLine {% nothing %}
  | continued %contLine {% nothing %}
  | continued %trivia {% nothing %}

@{%
function nothing(): null {
  return null;
}
%}

# The Dockerfile grammar. Tokens come from src/parser/lexer.ts: one per physical line
# (`contLine` ends in the escape character, `endLine` does not), runs of blank and comment lines
# (`trivia`), the parser directives at the top, and heredoc bodies after the instruction that
# opens them. Splitting an instruction line into keyword, flags and arguments is BuildKit's
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

# An instruction: its continued lines (with blank and comment lines in between), the line that
# ends it, then the bodies of the heredocs it opens.
instruction -> continued:? %endLine %heredoc:* {% instructionItem %}

continued -> %contLine {% nothing %}
  | continued %contLine {% nothing %}
  | continued %trivia {% nothing %}

@{%
function nothing(): null {
  return null;
}
%}

import type { Command } from "commander";
import { UsageError } from "../errors.js";

interface ParseCommandOptions {
  format: string;
  validate: boolean;
}

async function readInput(file: string): Promise<string> {
  if (file !== "-") {
    const { readFile } = await import("node:fs/promises");
    try {
      return await readFile(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(`cannot read ${file}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export function registerParseCommands(program: Command): void {
  program
    .command("parse")
    .description("Parse a Dockerfile and print its syntax tree")
    .argument("<file>", "Dockerfile path, or - for standard input")
    .option("--format <format>", "sexp (BuildKit's AST dump) or json (the AST with source ranges)", "sexp")
    .option("--no-validate", "print the syntax tree without checking instructions, flags and arguments")
    .action(async (file: string, options: ParseCommandOptions) => {
      if (options.format !== "sexp" && options.format !== "json") {
        throw new UsageError(`unknown --format ${options.format} (use sexp or json)`);
      }
      const text = await readInput(file);
      const { parse, dumpAst } = await import("../parser/index.js");
      const ast = parse(text, { file: file === "-" ? "<stdin>" : file });
      if (options.validate) {
        const { toInstructions } = await import("../instructions/index.js");
        toInstructions(ast, text);
      }
      process.stdout.write(options.format === "sexp" ? dumpAst(ast) : `${JSON.stringify(ast, null, 2)}\n`);
    });
}

import type { Command } from "commander";

export function registerParseCommands(program: Command): void {
  program
    .command("parse")
    .description("Parse a Dockerfile and print its syntax tree")
    .argument("<file>", "Dockerfile path, or - for standard input")
    .option("--format <format>", "sexp or json", "sexp")
    .action(async () => {
      throw new Error("not implemented yet");
    });
}

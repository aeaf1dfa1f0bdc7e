import { spawn } from "node:child_process";

/** Run a helper program to completion; resolve with its exit code and captured stderr. */
export function runProgram(
  file: string,
  args: readonly string[],
  options: { cwd?: string; captureStdout?: boolean; input?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      stdio: [options.input !== undefined ? "pipe" : "ignore", options.captureStdout === true ? "pipe" : "ignore", "pipe"],
    });
    if (options.input !== undefined) child.stdin?.on("error", () => undefined).end(options.input);
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

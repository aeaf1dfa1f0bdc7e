import { spawn } from "node:child_process";
import { RuntimeError } from "../errors.js";
import { cgroupPids, containerCgroup } from "./cgroup.js";
import type { RuntimeContext } from "./context.js";
import { findContainer } from "./lookup.js";

/** What `berth top` prints: ps's column titles and the rows of the container's processes. */
export interface TopResult {
  titles: string[];
  processes: string[][];
}

/**
 * `berth top CONTAINER [ps OPTIONS]`, as moby's daemon/top_unix.go: the host's `ps` with the
 * options given (`-ef` by default), asked for the container's pids with `-q`, or without them
 * when ps refuses that combination; then only the rows whose PID column is one of the
 * container's processes (threads that `m` prints under them too).
 */
export async function topContainer(ctx: RuntimeContext, ref: string, psArgs: string[]): Promise<TopResult> {
  const args = psArgs.length === 0 ? ["-ef"] : psArgs;
  validatePsArgs(args.join(" "));
  const { record } = await findContainer(ctx, ref);
  if (record.state !== "running") throw new RuntimeError(`Container ${record.id} is not running`, { exitCode: 1, container: record.id });
  const pids = cgroupPids(containerCgroup(record.id));
  let out = await runPs([...args, `-q${pids.join(",")}`]);
  if (out.code !== 0) out = await runPs(args);
  if (out.code !== 0) throw new RuntimeError(`ps: ${out.stderr.split("\n")[0] || `exit status ${out.code}`}`, { exitCode: 1 });
  return parsePsOutput(out.stdout, pids);
}

/** moby's validatePSArgs: `-o` may rename only the pid column (the filter needs a PID title). */
export function validatePsArgs(psArgs: string): void {
  for (const m of psArgs.matchAll(/\s+([^\s]*)=\s*(PID[^\s]*)/g)) {
    if (m[1] !== "pid") throw new RuntimeError(`specifying "${m[1]}=${m[2]}" is not allowed`, { exitCode: 1 });
  }
}

export function parsePsOutput(output: string, pids: readonly number[]): TopResult {
  const lines = output.split("\n");
  const titles = (lines[0] ?? "").trim().split(/\s+/).filter(Boolean);
  const pidIndex = titles.indexOf("PID");
  if (pidIndex < 0) throw new RuntimeError("Couldn't find PID field in ps output", { exitCode: 1 });
  const processes: string[][] = [];
  const row = (fields: string[]) => [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(" ")];
  let previousContained = false;
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const fields = line.trim().split(/\s+/);
    const pidField = fields[pidIndex] ?? "";
    if (pidField === "-") {
      if (previousContained) processes.push(row(fields));
      continue;
    }
    const pid = Number(pidField);
    if (!/^[0-9]+$/.test(pidField)) throw new RuntimeError(`Unexpected pid '${pidField}'`, { exitCode: 1 });
    previousContained = pids.includes(pid);
    if (previousContained) processes.push(row(fields));
  }
  return { titles, processes };
}

function runPs(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("ps", args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RuntimeError } from "../errors.js";
import { isAlive, readRecord, withLiveState, type ContainerRecord, type RestartPolicy } from "./record.js";

const POLICIES: ReadonlyArray<RestartPolicy["name"]> = ["no", "always", "on-failure", "unless-stopped"];

/** docker/cli's ParseRestartPolicy and the daemon's ValidateRestartPolicy, with their messages. */
export function parseRestartPolicy(text: string): RestartPolicy {
  const bad = (message: string) => new RuntimeError(`${message} (--restart)`);
  const colon = text.indexOf(":");
  const name = colon < 0 ? text : text.slice(0, colon);
  const count = colon < 0 ? "" : text.slice(colon + 1);
  if (colon >= 0 && name === "") throw bad("invalid restart policy format: no policy provided before colon");
  if (count !== "" && !/^[+-]?[0-9]+$/.test(count)) throw bad("invalid restart policy format: maximum retry count must be an integer");
  const maximumRetryCount = count === "" ? 0 : Number(count);
  if (!(POLICIES as readonly string[]).includes(name)) {
    throw bad(`invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if (name !== "on-failure" && maximumRetryCount !== 0) {
    throw bad(`invalid restart policy: maximum retry count can only be used with 'on-failure'${maximumRetryCount < 0 ? " and cannot be negative" : ""}`);
  }
  if (maximumRetryCount < 0) throw bad("invalid restart policy: maximum retry count cannot be negative");
  return { name: name as RestartPolicy["name"], maximumRetryCount };
}

/**
 * What `stop`/`kill`/`rm -f` leave for the container's supervisor (Docker's
 * HasBeenManuallyStopped and ExitOnNext): "stopped" keeps an unless-stopped container down,
 * "cancel" ends every restart. A manual start removes it.
 */
const STOP_MARK = "manual-stop";
export type StopMark = "stopped" | "cancel";

export function markStopped(dir: string, mark: StopMark): void {
  if (readStopMark(dir) !== "cancel") writeFileSync(join(dir, STOP_MARK), mark);
}

export function clearStopMark(dir: string): void {
  rmSync(join(dir, STOP_MARK), { force: true });
}

function readStopMark(dir: string): StopMark | undefined {
  try {
    return readFileSync(join(dir, STOP_MARK), "utf8") as StopMark;
  } catch {
    return undefined;
  }
}

/** Docker's restart manager: the first restart after a delay that doubles, back to the shortest after a run of 10 s. */
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;
const STEADY_RUN_MS = 10_000;

export class RestartBackoff {
  /** `delayMs`: the last delay (a supervisor taking over from the foreground `run`) */
  constructor(private delayMs = 0) {}

  /** The delay before the next start by the record's policy, or undefined: the container stays down. */
  next(exitCode: number, record: ContainerRecord, dir: string): number | undefined {
    const policy = record.hostConfig.restartPolicy;
    if (policy === undefined || policy.name === "no") return undefined;
    const mark = readStopMark(dir);
    if (mark === "cancel") return undefined;
    if (Date.now() - Date.parse(record.startedAt ?? record.created) >= STEADY_RUN_MS) this.delayMs = 0;
    this.delayMs = Math.min(this.delayMs === 0 ? FIRST_DELAY_MS : this.delayMs * 2, MAX_DELAY_MS);
    switch (policy.name) {
      case "always":
        return this.delayMs;
      case "unless-stopped":
        return mark === undefined ? this.delayMs : undefined;
      case "on-failure": {
        const max = policy.maximumRetryCount;
        return exitCode !== 0 && (max === 0 || record.restartCount < max) ? this.delayMs : undefined;
      }
    }
  }

  /** Wait out the delay; false when a stop cancelled the restart (or the container was removed) meanwhile. */
  async wait(dir: string, delayMs: number): Promise<boolean> {
    const deadline = Date.now() + delayMs;
    for (;;) {
      if (!existsSync(dir) || readStopMark(dir) === "cancel") return false;
      const left = deadline - Date.now();
      if (left <= 0) return true;
      await new Promise((r) => setTimeout(r, Math.min(left, 50)));
    }
  }
}

/** Docker's Restarting state: exited, and its supervisor waits to start it again. */
export function isRestarting(record: ContainerRecord): boolean {
  return record.restarting === true && record.state === "exited" && isAlive(record.supervisor);
}

/**
 * Before `stop`, `kill` or `rm -f` act on a container with a restart policy: no more restarts
 * (Docker's ExitOnNext); a container between two runs is waited for until its supervisor gave
 * up, or started it again (then the caller stops it as any running container).
 */
export async function cancelRestarts(dir: string, record: ContainerRecord): Promise<ContainerRecord> {
  if (record.hostConfig.restartPolicy === undefined || record.hostConfig.restartPolicy.name === "no") return record;
  markStopped(dir, "cancel");
  let current = record;
  while (isRestarting(current)) {
    await new Promise((r) => setTimeout(r, 25));
    current = withLiveState(await readRecord(dir));
  }
  return current;
}

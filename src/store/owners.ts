/** Whether a process with this pid exists (EPERM: it does, someone else's). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Temp names carry their writer's pid: `<prefix>-<pid>-<rand>` or `.<name>.tmp-<pid>-<rand>`. */
export function ownerPid(name: string): number | undefined {
  const m = /(?:^[a-z]+-|\.tmp-)(\d+)-[a-f0-9]+$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

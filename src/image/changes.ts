import type { ContainerConfig } from "./types.js";

/**
 * `docker import --change` / `docker commit --change`: Dockerfile instructions that edit an
 * image config. Docker allows CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME,
 * WORKDIR, STOPSIGNAL; we take the same list (ONBUILD stored as text).
 */
export class ChangeError extends Error {
  constructor(readonly change: string, reason: string) {
    super(`invalid --change ${JSON.stringify(change)}: ${reason}`);
    this.name = "ChangeError";
  }
}

/** Splits `a="b c" d='e'` into words, removing quotes (enough for ENV/LABEL key=value pairs). */
function words(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (c === '"' || c === "'") {
      const end = s.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated ${c} quote`);
      cur += s.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

function jsonOrShell(rest: string): string[] {
  const t = rest.trim();
  if (t.startsWith("[")) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
    } catch {
      // not JSON: shell form, as Docker falls back
    }
  }
  return ["/bin/sh", "-c", t];
}

function keyValues(rest: string, legacy: boolean): [string, string][] {
  const ws = words(rest);
  if (ws.length > 0 && !ws[0]!.includes("=")) {
    if (!legacy) throw new Error("want key=value");
    const sp = rest.trim().search(/\s/);
    if (sp < 0) throw new Error("ENV needs a value");
    return [[rest.trim().slice(0, sp), rest.trim().slice(sp).trim()]];
  }
  return ws.map((w) => {
    const eq = w.indexOf("=");
    if (eq <= 0) throw new Error(`want key=value, got ${JSON.stringify(w)}`);
    return [w.slice(0, eq), w.slice(eq + 1)] as [string, string];
  });
}

export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  const c: ContainerConfig = { ...config };
  for (const change of changes) {
    const m = /^\s*(\w+)\s*(.*)$/s.exec(change);
    if (!m) throw new ChangeError(change, "empty instruction");
    const kw = m[1]!.toUpperCase();
    const rest = m[2]!;
    try {
      switch (kw) {
        case "ENV": {
          const env = [...(c.Env ?? [])];
          for (const [k, v] of keyValues(rest, true)) {
            const i = env.findIndex((e) => e.startsWith(`${k}=`));
            if (i >= 0) env[i] = `${k}=${v}`;
            else env.push(`${k}=${v}`);
          }
          c.Env = env;
          break;
        }
        case "LABEL":
          c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(keyValues(rest, false)) };
          break;
        case "CMD":
          c.Cmd = jsonOrShell(rest);
          break;
        case "ENTRYPOINT":
          c.Entrypoint = jsonOrShell(rest);
          break;
        case "WORKDIR":
          if (rest.trim() === "") throw new Error("WORKDIR needs a path");
          c.WorkingDir = rest.trim();
          break;
        case "USER":
          if (rest.trim() === "") throw new Error("USER needs a name");
          c.User = rest.trim();
          break;
        case "STOPSIGNAL":
          c.StopSignal = rest.trim();
          break;
        case "EXPOSE": {
          const ports = { ...(c.ExposedPorts ?? {}) };
          for (const p of words(rest)) {
            if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) throw new Error(`invalid port ${JSON.stringify(p)}`);
            ports[p.includes("/") ? p.toLowerCase() : `${p}/tcp`] = {};
          }
          c.ExposedPorts = ports;
          break;
        }
        case "VOLUME": {
          const vols = { ...(c.Volumes ?? {}) };
          for (const v of jsonOrShell(rest)[0] === "/bin/sh" ? words(rest) : jsonOrShell(rest)) vols[v] = {};
          c.Volumes = vols;
          break;
        }
        case "ONBUILD":
          c.OnBuild = [...(c.OnBuild ?? []), rest.trim()];
          break;
        default:
          throw new Error(`${kw} is not allowed (want one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)`);
      }
    } catch (err) {
      if (err instanceof ChangeError) throw err;
      throw new ChangeError(change, (err as Error).message);
    }
  }
  return c;
}

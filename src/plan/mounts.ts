import { splitCsv } from "./flags.js";

/** One `RUN --mount=…` after parsing (BuildKit's instructions.Mount). */
export interface RunMount {
  type: "bind" | "cache" | "tmpfs" | "secret" | "ssh";
  target: string;
  source: string | undefined;
  from: string | undefined;
  readOnly: boolean;
  id: string | undefined;
  sharing: "shared" | "private" | "locked";
  mode: number | undefined;
  uid: number | undefined;
  gid: number | undefined;
  required: boolean;
  size: number | undefined;
  env: string | undefined;
}

export class MountSpecError extends Error {}

function parseBool(v: string | undefined, key: string): boolean {
  if (v === undefined || v === "") return true;
  const l = v.toLowerCase();
  if (l === "true" || l === "1") return true;
  if (l === "false" || l === "0") return false;
  throw new MountSpecError(`invalid value for ${key}: ${v}`);
}

function parseId(v: string, key: string): number {
  if (!/^\d+$/.test(v)) throw new MountSpecError(`invalid value for ${key}: ${v}`);
  return Number(v);
}

/** Parses a `--mount` value as BuildKit's parseMount does (defaults per type). */
export function parseRunMount(value: string): RunMount {
  let type: RunMount["type"] = "bind";
  const m: RunMount = {
    type, target: "", source: undefined, from: undefined, readOnly: true, id: undefined, sharing: "shared",
    mode: undefined, uid: undefined, gid: undefined, required: false, size: undefined, env: undefined,
  };
  let roSet = false;
  for (const field of splitCsv(value)) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const v = eq < 0 ? undefined : field.slice(eq + 1);
    switch (key) {
      case "type":
        if (v !== "bind" && v !== "cache" && v !== "tmpfs" && v !== "secret" && v !== "ssh") throw new MountSpecError(`unsupported mount type ${JSON.stringify(v)}`);
        type = v;
        m.type = v;
        break;
      case "target": case "dst": case "destination":
        m.target = v ?? ""; break;
      case "source": case "src":
        m.source = v; break;
      case "from":
        m.from = v; break;
      case "ro": case "readonly":
        m.readOnly = parseBool(v, key); roSet = true; break;
      case "rw": case "readwrite":
        m.readOnly = !parseBool(v, key); roSet = true; break;
      case "id":
        m.id = v; break;
      case "sharing":
        if (v !== "shared" && v !== "private" && v !== "locked") throw new MountSpecError(`unsupported sharing value ${JSON.stringify(v)}`);
        m.sharing = v; break;
      case "mode":
        if (v === undefined || !/^[0-7]+$/.test(v)) throw new MountSpecError(`invalid value for mode: ${v ?? ""}`);
        m.mode = parseInt(v, 8); break;
      case "uid": m.uid = parseId(v ?? "", key); break;
      case "gid": m.gid = parseId(v ?? "", key); break;
      case "required": m.required = parseBool(v, key); break;
      case "size": m.size = parseId(v ?? "", key); break;
      case "env": m.env = v; break;
      default:
        throw new MountSpecError(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (!roSet) m.readOnly = m.type === "bind" || m.type === "secret" || m.type === "ssh";
  if (m.type === "secret") {
    if (m.id === undefined && m.target === "" && m.env === undefined) throw new MountSpecError("secret mount needs an id or a target");
    m.id ??= m.target.split("/").pop();
    if (m.target === "" && m.env === undefined) m.target = `/run/secrets/${m.id ?? ""}`;
    m.mode ??= 0o400;
  } else if (m.type === "ssh") {
    m.id ??= "default";
    if (m.target === "") m.target = "/run/buildkit/ssh_agent.0";
  } else if (m.target === "") {
    throw new MountSpecError("mount target must be set");
  }
  if (m.type === "cache") {
    m.id ??= m.target;
    m.mode ??= 0o755;
  }
  return m;
}

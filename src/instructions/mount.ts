/**
 * `RUN --mount=…` specs, parsed as BuildKit does (commands_runmount.go): a CSV record of
 * `key=value` fields (`type` defaults to bind; `ro`/`rw`/`required` may stand alone).
 * Numeric fields holding a `$VAR` are left undefined here: the planner expands the spec and
 * calls `parseMountSpec` again on the result.
 */
import type { SourceRange } from "../parser/ast.js";
import { CsvRecordError, splitCsvRecord } from "../csv.js";
import type { BindMount, CacheMount, Mount, SecretMount, SshMount, TmpfsMount } from "./types.js";

/** A problem with a mount spec (the caller adds the location). */
export class MountSpecError extends Error {}

const MOUNT_TYPES = ["bind", "cache", "tmpfs", "secret", "ssh"] as const;
type MountType = (typeof MOUNT_TYPES)[number];

/** The spec's fields, with BuildKit's wording for a malformed record. */
function splitCsv(spec: string): string[] {
  try {
    return splitCsvRecord(spec);
  } catch (err) {
    if (!(err instanceof CsvRecordError)) throw err;
    if (err.problem === "bare-quote") throw new MountSpecError(`bare " in non-quoted-field: ${spec}`);
    throw new MountSpecError(`extraneous or missing " in quoted-field: ${spec}`);
  }
}

function parseBool(key: string, value: string): boolean {
  const v = value.toLowerCase();
  if (["1", "t", "true"].includes(v)) return true;
  if (["0", "f", "false"].includes(v)) return false;
  throw new MountSpecError(`invalid value for ${key}: ${value}`);
}

function parseUint(key: string, value: string, radix: 8 | 10): number | undefined {
  if (value.includes("$")) return undefined;
  const re = radix === 8 ? /^[0-7]+$/ : /^\d+$/;
  if (!re.test(value)) throw new MountSpecError(`invalid value for ${key}: ${value}`);
  return Number.parseInt(value, radix);
}

/** go-units RAMInBytes: `64m`, `1g`, `512k`, `100` (binary multiples). */
function parseSize(value: string): number | undefined {
  if (value.includes("$")) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(value);
  if (m === null) throw new MountSpecError(`invalid value for size: ${value}`);
  const power = " kmgtp".indexOf((m[2] || " ").toLowerCase());
  return Math.floor(Number.parseFloat(m[1]!) * 1024 ** power);
}

export function parseMountSpec(spec: string, range: SourceRange): Mount {
  let type: MountType = "bind";
  let target: string | undefined;
  let source: string | undefined;
  let from: string | undefined;
  let id: string | undefined;
  let env: string | undefined;
  let sharing: "shared" | "private" | "locked" = "shared";
  let readOnly: boolean | undefined;
  let required = false;
  let mode: number | undefined;
  let uid: number | undefined;
  let gid: number | undefined;
  let size: number | undefined;
  let modeSet = false;
  const fields = splitCsv(spec);
  for (const field of fields) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    if (value === undefined) {
      switch (key) {
        case "readonly":
        case "ro":
          readOnly = true;
          continue;
        case "readwrite":
        case "rw":
          readOnly = false;
          continue;
        case "required":
          required = true;
          continue;
        default:
          throw new MountSpecError(`unexpected key '${key}' in '${field}'`);
      }
    }
    switch (key) {
      case "type":
        if (!(MOUNT_TYPES as readonly string[]).includes(value.toLowerCase())) {
          throw new MountSpecError(`unsupported mount type "${value}" (use bind, cache, tmpfs, secret or ssh)`);
        }
        type = value.toLowerCase() as MountType;
        break;
      case "target":
      case "dst":
      case "destination":
        target = value;
        break;
      case "source":
      case "src":
        source = value;
        break;
      case "from":
        from = value;
        break;
      case "id":
        id = value;
        break;
      case "env":
        env = value;
        break;
      case "readonly":
      case "ro":
        readOnly = parseBool(key, value);
        break;
      case "readwrite":
      case "rw":
        readOnly = !parseBool(key, value);
        break;
      case "required":
        required = parseBool(key, value);
        break;
      case "sharing":
        if (value !== "shared" && value !== "private" && value !== "locked") {
          throw new MountSpecError(`unsupported sharing value "${value}" (use shared, private or locked)`);
        }
        sharing = value;
        break;
      case "mode":
        mode = parseUint(key, value, 8);
        modeSet = true;
        break;
      case "uid":
        uid = parseUint(key, value, 10);
        break;
      case "gid":
        gid = parseUint(key, value, 10);
        break;
      case "size":
        size = parseSize(value);
        break;
      default:
        throw new MountSpecError(`unexpected key '${key}' in '${field}'`);
    }
  }
  const needsTarget = type === "bind" || type === "cache" || type === "tmpfs";
  if (needsTarget && (target === undefined || target === "")) {
    throw new MountSpecError(`--mount=type=${type} requires a target (target=/path)`);
  }
  if (type !== "secret" && env !== undefined) throw new MountSpecError(`unexpected key 'env' for a ${type} mount`);
  if (type === "tmpfs" && (source !== undefined || from !== undefined)) {
    throw new MountSpecError("a tmpfs mount takes no source or from");
  }
  if (type !== "tmpfs" && size !== undefined) throw new MountSpecError(`unexpected key 'size' for a ${type} mount`);
  switch (type) {
    case "bind": {
      const m: BindMount = { type, spec, range, target: target!, source, from, readOnly: readOnly ?? true };
      return m;
    }
    case "cache": {
      const m: CacheMount = {
        type, spec, range, target: target!, id: id ?? target!, sharing, source, from,
        readOnly: readOnly ?? false, mode, uid, gid,
      };
      return m;
    }
    case "tmpfs": {
      const m: TmpfsMount = { type, spec, range, target: target!, size };
      return m;
    }
    case "secret": {
      const secretId = id ?? (target !== undefined ? target.split("/").filter(Boolean).pop() : undefined);
      if (secretId === undefined || secretId === "") {
        throw new MountSpecError("a secret mount needs an id or a target");
      }
      const m: SecretMount = {
        type, spec, range, id: secretId, target: target ?? (env === undefined ? `/run/secrets/${secretId}` : undefined), env,
        required, mode: modeSet ? (mode ?? 0o400) : 0o400, uid: uid ?? 0, gid: gid ?? 0,
      };
      return m;
    }
    case "ssh": {
      const m: SshMount = {
        type, spec, range, id: id ?? "default", target, required,
        mode: modeSet ? (mode ?? 0o600) : 0o600, uid: uid ?? 0, gid: gid ?? 0,
      };
      return m;
    }
  }
}

/** Characters word expansion acts on (variables, quotes, either escape token, a leading BOM). */
const EXPANSION_SENSITIVE = /[$'"\\`\ufeff]/;

/**
 * A RUN mount as the step sees it: the spec expanded with the stage's variables (`expand`,
 * which reports its own errors), then read by `parseMountSpec` again, as the spec may now say
 * something else; a spec expansion cannot change is the mount parsed with the instruction. A
 * bad expanded spec names itself (`--mount=<spec as written>: …`).
 */
export function expandMount(mount: Mount, expand: (word: string) => string): Mount {
  if (!EXPANSION_SENSITIVE.test(mount.spec)) return mount;
  try {
    return parseMountSpec(expand(mount.spec), mount.range);
  } catch (err) {
    if (err instanceof MountSpecError) throw new MountSpecError(`--mount=${mount.spec}: ${err.message}`);
    throw err;
  }
}

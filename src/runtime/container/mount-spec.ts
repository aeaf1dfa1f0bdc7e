import { existsSync } from "node:fs";
import { isAbsolute, posix, resolve } from "node:path";
import { CsvRecordError, splitCsvRecord } from "../../csv.js";
import { RuntimeError } from "../errors.js";
import type { MountRequest } from "../spec.js";
import { parseBytes } from "./parse-options.js";
import { isVolumeName } from "../../store/volumes.js";

/** A `--mount` as berth's -v / --tmpfs machinery takes it: a bind or tmpfs request, or a volume. */
export type ParsedMount = { request: MountRequest } | { volume: { name: string | undefined; destination: string; readOnly: boolean } };

const BOOLEAN_KEYS = ["readonly", "ro", "volume-nocopy", "bind-nonrecursive", "bind-create-src"];

/**
 * `--mount type=bind|volume|tmpfs,source=…,target=…,readonly,…`: docker/cli's MountOpt (CSV
 * fields, its messages) and the daemon's validateMountConfig. Options berth cannot honour
 * (volume drivers, propagation other than the default) are refused, not ignored.
 */
export function parseMountSpec(spec: string): ParsedMount {
  const flagError = (message: string) => new RuntimeError(`invalid argument "${spec}" for "--mount" flag: ${message}`);
  const value = spec.trim();
  if (value === "") throw flagError("value is empty");
  let fields: string[];
  try {
    fields = splitCsvRecord(value);
  } catch (err) {
    if (err instanceof CsvRecordError) throw flagError(`parse error: ${err.problem.replace(/-/g, " ")}`);
    throw err;
  }
  let type = "volume";
  let source = "";
  let target = "";
  let readOnly = false;
  let createSource = false;
  const bindOptions: string[] = [];
  const volumeOptions: string[] = [];
  const tmpfsOptions: string[] = [];
  for (const field of fields) {
    const eq = field.indexOf("=");
    const rawKey = eq < 0 ? field : field.slice(0, eq);
    const val = eq < 0 ? "" : field.slice(eq + 1);
    if (rawKey.trim() !== rawKey) throw flagError(`invalid option '${rawKey.trim()}' in '${field}': option should not have whitespace`);
    if (eq >= 0) {
      if (val.trim() === "") throw flagError(`invalid value for '${rawKey}': value is empty`);
      if (val.trim() !== val) throw flagError(`invalid value for '${rawKey}' in '${field}': value should not have whitespace`);
    }
    const key = rawKey.toLowerCase();
    if (eq < 0 && !BOOLEAN_KEYS.includes(key)) throw flagError(`invalid field '${field}' must be a key=value pair`);
    const bool = (): boolean => {
      if (eq < 0 || val === "1" || val === "true") return true;
      if (val === "0" || val === "false") return false;
      throw flagError(`invalid value for '${key}': invalid boolean value ("${val}"): must be one of "true", "1", "false", or "0" (default "true")`);
    };
    switch (key) {
      case "type":
        type = val.toLowerCase();
        break;
      case "source":
      case "src":
        // as docker/cli: a relative path starting with "." is the client's directory
        source = !isAbsolute(val) && val.startsWith(".") ? resolve(val) : val;
        break;
      case "target":
      case "dst":
      case "destination":
        target = val;
        break;
      case "readonly":
      case "ro":
        readOnly = bool();
        break;
      case "bind-propagation":
        bindOptions.push(key);
        if (val.toLowerCase() !== "rprivate") throw new RuntimeError(`berth does not support bind-propagation=${val} (--mount): bind mounts are rprivate`);
        break;
      case "bind-nonrecursive":
        throw flagError("bind-nonrecursive is deprecated, use bind-recursive=disabled instead");
      case "bind-recursive":
        bindOptions.push(key);
        if (val !== "enabled") throw new RuntimeError(`berth does not support bind-recursive=${val} (--mount)`);
        break;
      case "bind-create-src":
        bindOptions.push(key);
        createSource = bool();
        break;
      case "tmpfs-size":
        try {
          tmpfsOptions.push(`size=${parseBytes(val, "tmpfs-size")}`);
        } catch {
          throw flagError(`invalid value for ${key}: ${val}`);
        }
        break;
      case "tmpfs-mode":
        if (!/^[0-7]+$/.test(val) || Number.parseInt(val, 8) > 0o7777) throw flagError(`invalid value for ${key}: ${val}`);
        tmpfsOptions.push(`mode=${Number.parseInt(val, 8).toString(8)}`);
        break;
      case "volume-subpath":
      case "volume-nocopy":
      case "volume-label":
      case "volume-driver":
      case "volume-opt":
        volumeOptions.push(key);
        throw new RuntimeError(`berth does not support ${key} (--mount)`);
      case "consistency":
        break; // Docker Desktop's; Linux ignores it
      default:
        throw flagError(`unknown option '${key}' in '${field}'`);
    }
  }
  if (type !== "bind" && bindOptions.length > 0) throw flagError(`cannot mix 'bind-*' options with mount type '${type}'`);
  if (type !== "volume" && volumeOptions.length > 0) throw flagError(`cannot mix 'volume-*' options with mount type '${type}'`);
  if (type !== "tmpfs" && tmpfsOptions.length > 0) throw flagError(`cannot mix 'tmpfs-*' options with mount type '${type}'`);
  // the daemon's validateMountConfig
  const configError = (message: string) => new RuntimeError(`invalid mount config for type "${type}": ${message}`);
  if (target === "") throw configError("field Target must not be empty");
  if (posix.normalize(target) === "/") throw configError("invalid specification: destination can't be '/'");
  if (!target.startsWith("/")) throw configError(`invalid mount path: '${target}' mount path must be absolute`);
  const destination = posix.normalize(target);
  switch (type) {
    case "bind":
      if (source === "") throw configError("field Source must not be empty");
      if (!source.startsWith("/")) throw configError(`invalid mount path: '${source}' mount path must be absolute`);
      // unlike -v, --mount does not make a missing source (unless bind-create-src)
      if (!createSource && !existsSync(source)) throw configError(`bind source path does not exist: ${source}`);
      return { request: { type: "bind", source: posix.normalize(source), destination, readOnly } };
    case "volume":
      if (source !== "" && !isVolumeName(source)) {
        throw new RuntimeError(`create ${source}: "${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
      }
      return { volume: { name: source === "" ? undefined : source, destination, readOnly } };
    case "tmpfs":
      if (source !== "") throw configError("field Source must not be specified");
      return { request: { type: "tmpfs", destination, options: ["nosuid", "nodev", "noexec", ...(readOnly ? ["ro"] : []), ...(tmpfsOptions.some((o) => o.startsWith("mode=")) ? [] : ["mode=1777"]), ...tmpfsOptions] } };
    default:
      throw configError("mount type unknown");
  }
}

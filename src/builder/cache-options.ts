import { UsageError } from "../errors.js";
import { CsvRecordError, splitCsvRecord } from "../csv.js";

/**
 * `--cache-from` / `--cache-to` in BuildKit's (buildx's) syntax: CSV fields `key=value`, `type`
 * first or anywhere; a value without any `=` is shorthand for `type=registry,ref=VALUE`
 * (buildx's isRefOnlyFormat). berth exchanges its cache through a registry or a local OCI
 * layout directory; the other BuildKit backends (gha, s3, azblob, inline) are refused by name.
 */
export type CacheImportSpec =
  | { type: "registry"; ref: string; text: string }
  | { type: "local"; src: string; tag: string; digest?: string; text: string };

export type CacheExportMode = "min" | "max";

export type CacheExportSpec =
  | { type: "registry"; ref: string; mode: CacheExportMode; ignoreError: boolean; text: string }
  | { type: "local"; dest: string; tag: string; mode: CacheExportMode; ignoreError: boolean; text: string };

/** Attributes BuildKit knows that change nothing in berth's cache (always gzip, always OCI). */
const ACCEPTED_NOOP = new Set(["oci-mediatypes", "image-manifest", "compression", "compression-level", "force-compression"]);
const OTHER_BACKENDS = new Set(["gha", "s3", "azblob", "inline"]);

/** Splits one CSV record as Go's encoding/csv does; a `"` inside an unquoted field is kept as text. */
export function splitCsv(text: string, flag: string): string[] {
  try {
    return splitCsvRecord(text, { lazyQuotes: true });
  } catch (err) {
    if (!(err instanceof CsvRecordError)) throw err;
    throw new UsageError(`${flag} ${text}: ${err.problem === "unterminated-quote" ? "unterminated quote" : "extraneous text after a quoted field"}`);
  }
}

function parseAttrs(flag: string, text: string): { type: string; attrs: Map<string, string> } | { refs: string[] } {
  const fields = splitCsv(text, flag).filter((f) => f !== "");
  if (fields.length === 0) throw new UsageError(`${flag}: empty value`);
  if (fields.every((f) => !f.includes("="))) return { refs: fields };
  let type: string | undefined;
  const attrs = new Map<string, string>();
  for (const f of fields) {
    const eq = f.indexOf("=");
    if (eq < 0) throw new UsageError(`${flag} ${text}: invalid field ${JSON.stringify(f)}: want key=value`);
    const key = f.slice(0, eq).toLowerCase();
    const value = f.slice(eq + 1);
    if (key === "type") type = value;
    else attrs.set(key, value);
  }
  if (type === undefined || type === "") throw new UsageError(`${flag} ${text}: type required (type=registry,ref=… or type=local,…)`);
  if (OTHER_BACKENDS.has(type)) throw new UsageError(`${flag} ${text}: cache type ${type} is not supported by berth (use type=registry or type=local)`);
  if (type !== "registry" && type !== "local") throw new UsageError(`${flag} ${text}: unknown cache type ${JSON.stringify(type)} (want registry or local)`);
  return { type, attrs };
}

function take(flag: string, text: string, attrs: Map<string, string>, allowed: readonly string[]): void {
  for (const key of attrs.keys()) {
    if (!allowed.includes(key) && !ACCEPTED_NOOP.has(key)) {
      throw new UsageError(`${flag} ${text}: unknown attribute ${JSON.stringify(key)} (known: ${allowed.join(", ")})`);
    }
  }
}

function required(flag: string, text: string, attrs: Map<string, string>, key: string): string {
  const v = attrs.get(key);
  if (v === undefined || v === "") throw new UsageError(`${flag} ${text}: ${key}= is required for this type`);
  return v;
}

function parseMode(flag: string, text: string, attrs: Map<string, string>): CacheExportMode {
  const mode = attrs.get("mode") ?? "min";
  if (mode !== "min" && mode !== "max") throw new UsageError(`${flag} ${text}: invalid cache mode ${JSON.stringify(mode)} (want min or max)`);
  return mode;
}

function parseBool(flag: string, text: string, attrs: Map<string, string>, key: string): boolean {
  const v = attrs.get(key);
  if (v === undefined) return false;
  if (v === "true" || v === "1" || v === "") return true;
  if (v === "false" || v === "0") return false;
  throw new UsageError(`${flag} ${text}: ${key}= wants true or false, not ${JSON.stringify(v)}`);
}

/** One `--cache-from` value (a ref-only value may name several refs, as buildx allows). */
export function parseCacheFrom(text: string): CacheImportSpec[] {
  const flag = "--cache-from";
  const p = parseAttrs(flag, text);
  if ("refs" in p) return p.refs.map((ref) => ({ type: "registry", ref, text: `type=registry,ref=${ref}` }));
  if (p.type === "registry") {
    take(flag, text, p.attrs, ["ref"]);
    return [{ type: "registry", ref: required(flag, text, p.attrs, "ref"), text }];
  }
  take(flag, text, p.attrs, ["src", "tag", "digest"]);
  const digest = p.attrs.get("digest");
  if (digest !== undefined && !/^sha256:[a-f0-9]{64}$/.test(digest)) throw new UsageError(`${flag} ${text}: digest= wants sha256:<64 hex digits>`);
  return [{ type: "local", src: required(flag, text, p.attrs, "src"), tag: p.attrs.get("tag") || "latest", ...(digest !== undefined ? { digest } : {}), text }];
}

/** One `--cache-to` value. */
export function parseCacheTo(text: string): CacheExportSpec[] {
  const flag = "--cache-to";
  const p = parseAttrs(flag, text);
  if ("refs" in p) return p.refs.map((ref) => ({ type: "registry", ref, mode: "min", ignoreError: false, text: `type=registry,ref=${ref}` }));
  if (p.type === "registry") {
    take(flag, text, p.attrs, ["ref", "mode", "ignore-error"]);
    return [{ type: "registry", ref: required(flag, text, p.attrs, "ref"), mode: parseMode(flag, text, p.attrs), ignoreError: parseBool(flag, text, p.attrs, "ignore-error"), text }];
  }
  take(flag, text, p.attrs, ["dest", "tag", "mode", "ignore-error"]);
  return [
    {
      type: "local",
      dest: required(flag, text, p.attrs, "dest"),
      tag: p.attrs.get("tag") || "latest",
      mode: parseMode(flag, text, p.attrs),
      ignoreError: parseBool(flag, text, p.attrs, "ignore-error"),
      text,
    },
  ];
}

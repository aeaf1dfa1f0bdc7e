import { createHash } from "node:crypto";

/** A content digest, `sha256:<64 hex>`. Branded so that a plain string is never taken for one. */
export type Digest = string & { readonly __brand: "Digest" };

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): value is Digest {
  return DIGEST_RE.test(value);
}

/** Validates and brands a digest string; throws a TypeError naming the bad value. */
export function parseDigest(value: string): Digest {
  if (!isDigest(value)) throw new TypeError(`invalid digest ${JSON.stringify(value)}: want sha256:<64 hex digits>`);
  return value;
}

export function sha256Digest(data: string | Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}` as Digest;
}

/** The 64 hex digits of a digest (for file names). */
export function digestHex(digest: Digest): string {
  return digest.slice("sha256:".length);
}

/** The 12-character short ID Docker prints. */
export function shortId(digest: Digest): string {
  return digest.slice("sha256:".length, "sha256:".length + 12);
}

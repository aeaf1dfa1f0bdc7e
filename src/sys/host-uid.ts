import { BerthError } from "../errors.js";

/** Set by the re-exec into berth's user namespace (see userns.ts): the user's uid on the host. */
export const ROOTLESS_UID_ENV = "_BERTH_ROOTLESS_UID";

/**
 * The uid berth acts for on the host: the real uid, or inside berth's user namespace (where
 * berth is uid 0) the user that namespace maps to root.
 */
export function hostUid(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const uid = process.getuid?.() ?? 0;
  const mapped = env[ROOTLESS_UID_ENV];
  return uid === 0 && mapped !== undefined && /^[0-9]+$/.test(mapped) ? Number(mapped) : uid;
}

/** True when berth runs for an ordinary user (before or after entering its user namespace). */
export function isRootless(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return hostUid(env) !== 0;
}

/**
 * The library (`openStore`, and `build` through it) as an ordinary user: berth's store and
 * containers need the user's namespace (uid 0 there, the subordinate ids mapped), and a
 * running Node process cannot join a user namespace (setns(2) wants a single-threaded caller),
 * so only bin/berth, which enters it before Node starts, can. Says so instead of failing later
 * on a chown or a mount.
 */
export function requireRootOrNamespace(what: string): void {
  if ((process.geteuid?.() ?? 0) === 0) return;
  throw new BerthError(
    `${what}: berth's library needs root, or an ordinary user's berth namespace, which a running Node process cannot join: use the CLI (bin/berth enters the namespace before Node starts), or run this program as root`,
  );
}

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

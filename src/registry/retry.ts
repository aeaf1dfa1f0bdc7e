import { setTimeout as sleep } from "node:timers/promises";

/** Bounded retries with exponential backoff and jitter, for 5xx, 429 and connection resets. */
export interface RetryPolicy {
  /** Attempts after the first. */
  retries: number;
  /** First delay in ms; doubles each attempt, capped at maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, baseDelayMs: 200, maxDelayMs: 5_000 };

/** The delay before retry number `attempt` (0-based); a server's Retry-After (seconds) wins if shorter than the cap. */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfter?: string): number {
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, policy.maxDelayMs);
  }
  const exp = Math.min(policy.baseDelayMs * 2 ** attempt, policy.maxDelayMs);
  return exp / 2 + Math.random() * (exp / 2);
}

export function wait(ms: number): Promise<void> {
  return sleep(ms);
}

import type { ResourceLimits } from "node:worker_threads";

/**
 * Heap limits for berth's short-lived worker threads (hashing and copying files). Each worker
 * is a V8 isolate of its own whose young generation otherwise grows to 16 MB semi-spaces while
 * it churns through file buffers: with two hashing and two copying workers that was most of a
 * 20,000-file build's peak memory. Their garbage is short-lived; small semi-spaces serve.
 */
export const WORKER_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 4 };

import type { Advice } from "./advice.js";
import type { ImageAnalysis } from "./analysis.js";

/**
 * dive's export (`dive --json`, cmd/dive/cli/internal/command/export): `layer[]` with index,
 * id, digestId, sizeBytes, command, and `image` with sizeBytes, inefficientBytes,
 * efficiencyScore, fileReference[] (count, sizeBytes, file) — without dive's per-layer fileList.
 * berth's additions: per layer its Dockerfile lines, counts and wasted bytes; `berth` beside
 * `image` with what a later layer hides, duplicate content and the advice.
 */
export function exportAnalysis(a: ImageAnalysis, advice: readonly Advice[]): unknown {
  return {
    layer: a.layers.map((l) => ({
      index: l.index,
      id: l.diffId.replace(/^sha256:/, ""),
      digestId: l.diffId,
      sizeBytes: l.sizeBytes,
      command: l.command,
      createdBy: l.createdBy,
      ...(l.lines !== undefined ? { lines: l.lines } : {}),
      added: l.added,
      changed: l.changed,
      removed: l.removed,
      wastedBytes: l.wastedBytes,
    })),
    image: {
      sizeBytes: a.sizeBytes,
      inefficientBytes: a.inefficientBytes,
      efficiencyScore: a.efficiencyScore,
      fileReference: a.fileReference,
    },
    berth: {
      id: a.image.id,
      tags: a.image.tags,
      ...(a.image.dockerfile !== undefined ? { dockerfile: a.image.dockerfile } : {}),
      userSizeBytes: a.userSizeBytes,
      wastedUserPercent: a.wastedUserPercent,
      wastedBytes: a.wastedBytes,
      hidden: a.hidden,
      duplicates: a.duplicates,
      advice,
    },
  };
}

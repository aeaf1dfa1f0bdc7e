import { describe, expect, it } from "vitest";
import { checkCacheIndex, imageStageChain } from "../../../src/builder/cache-exchange.js";

const D = (c: string) => `sha256:${c.repeat(64)}`;
const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: D("b"), size: 10 };

describe("shared cache index checks", () => {
  it.each([
    [{ version: 1, entries: {}, layers: {} }, undefined],
    [{ version: 1, entries: { k: { layers: [D("a")], diffId: D("a"), created: "2024-01-01T00:00:00Z" } }, layers: { [D("a")]: layer } }, undefined],
    [{ version: 1, entries: { k: { layers: [], diffId: null, created: "2024-01-01T00:00:00.123456789Z" } }, layers: {} }, undefined],
    [{ version: 1, entries: { k: { layers: [], diffId: null, created: "yesterday" } }, layers: {} }, /bad created time "yesterday"/],
    [null, /not an object/],
    [{ version: 2, entries: {}, layers: {} }, /version 2/],
    [{ version: 1, layers: {} }, /no entries or layers/],
    [{ version: 1, entries: { k: { layers: [D("a")], diffId: D("a"), created: "t" } }, layers: {} }, /entry k names layers the index does not carry/],
    [{ version: 1, entries: { k: { layers: [D("a")], diffId: D("c"), created: "t" } }, layers: { [D("a")]: layer } }, /bad diffId/],
    [{ version: 1, entries: { k: { layers: [], diffId: null } }, layers: {} }, /no created time/],
    [{ version: 1, entries: {}, layers: { [D("a")]: { ...layer, digest: "md5:x" } } }, /bad descriptor/],
  ])("%j", (index, want) => {
    const got = checkCacheIndex(index);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toMatch(want);
  });

  it("mode=min exports the target and the stages it is built FROM, not COPY --from sources", () => {
    const stages = [
      { base: { kind: "image" as const, ref: "busybox" } },
      { base: { kind: "stage" as const, index: 0 } },
      { base: { kind: "image" as const, ref: "busybox" } },
      { base: { kind: "stage" as const, index: 1 } },
    ];
    expect(imageStageChain({ stages, target: 3 } as never)).toEqual([3, 1, 0]);
    expect(imageStageChain({ stages, target: 2 } as never)).toEqual([2]);
  });
});

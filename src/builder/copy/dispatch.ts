import { LayeredSourceFs, type SourceFs } from "../../context/index.js";
import type { Digest } from "../../image/digest.js";
import type { AddInstruction, CopyInstruction } from "../../instructions/index.js";
import { trace } from "../../sys/trace.js";
import type { BuilderStore } from "../store-port.js";
import type { LayerInfo } from "../../store/types.js";
import { BuildError } from "../errors.js";
import { stackedKey, type KeyInputs } from "../keys.js";
import type { BuildSession, Step } from "../session.js";
import { prepareCopy } from "./prepare.js";
import type { PlacedFile, ReuseSource } from "./writer.js";

/** Up to this many entries keep per-file checksums for --explain. */
const EXPLAIN_FILE_LIMIT = 50_000;

/** COPY and ADD: the sources resolved and checksummed (the key), then written as the layer. */
export async function dispatchCopy(b: BuildSession, s: Step<CopyInstruction | AddInstruction>): Promise<void> {
  const { node, state, expand, fail } = s;
  const id = s.show();
  const { resources, store } = b;
  let prepared;
  try {
    prepared = await prepareCopy({
      ins: node,
      expand,
      workdir: state.config.config?.WorkingDir || "/",
      sourceFor: async (from) => {
        if (from === undefined) {
          const ctx = await resources.buildContext();
          return { fs: ctx, identity: "context", statCache: () => resources.statCache() };
        }
        const src = await b.fromSource(from);
        return { fs: new LayeredSourceFs(src.layers, src.label, resources.isOpaque) as SourceFs, identity: src.identity };
      },
      parentLayers: state.layers.map((l) => l.dir).reverse(),
      isOpaque: resources.isOpaque,
      selectionMemo: {
        get: async (fp) => ((await store.getCacheEntry(`selection:${fp}`)) as { digest?: string } | undefined)?.digest,
        // written behind the step (two fsyncs on its path otherwise); the build's end waits
        set: (fp, digest) => b.deferCleanup(store.putCacheEntry(`selection:${fp}`, { layers: [], digest })),
      },
      sourceDateEpoch: b.epoch,
      sshAgent: b.options.ssh?.find((a) => a.id === "default")?.socket,
      explainFileLimit: EXPLAIN_FILE_LIMIT,
    });
  } catch (err) {
    if (err instanceof BuildError) throw err;
    throw fail((err as Error).message, { cause: err });
  }
  trace(`build: step ${id} sources checksummed`);
  try {
    const parentChain = state.key;
    const inputs: KeyInputs = {
      // --link: the layer is made without the parent (BuildKit's MergeOp of a copy onto
      // scratch), so an earlier change still hits it and the layer is stacked on the new parent.
      parent: prepared.link ? "link" : state.key,
      instruction: prepared.instruction,
      env: [],
      contentDigest: prepared.contentDigest,
    };
    let placed: Map<string, PlacedFile> | undefined;
    const { ready } = await b.cache.layerStep(s, id, inputs, `${prepared.createdBy} # buildkit`, async (snap, previous) => {
      try {
        placed = await prepared.execute(snap, await reuseSource(store, previous));
      } catch (err) {
        throw fail((err as Error).message, { cause: err });
      }
    }, () => prepared.files(), true);
    const made = placed;
    if (made !== undefined && made.size > 0) b.deferCleanup(ready.then((layer) => (layer !== undefined ? savePlaced(store, layer.diffId, made) : undefined)));
    if (prepared.link) state.key = stackedKey(parentChain, state.key);
  } finally {
    await prepared.cleanup();
  }
}

/**
 * What each COPY layer placed (see ReuseSource), kept by diff_id for the next build of the
 * same step. A hint, not a record: written behind the build without fsync; a missing or torn
 * file only means copying instead of linking.
 */
async function savePlaced(store: BuilderStore, diffId: Digest, placed: Map<string, PlacedFile>): Promise<void> {
  await store.putPlaced(diffId, JSON.stringify([...placed]));
}

async function reuseSource(store: BuilderStore, previous: () => Promise<LayerInfo | undefined>): Promise<ReuseSource | undefined> {
  const layer = await previous();
  if (layer === undefined) return undefined;
  try {
    const list = JSON.parse((await store.placed(layer.diffId)) ?? "") as [string, PlacedFile][];
    return { dir: layer.dir, placed: new Map(list) };
  } catch {
    return undefined;
  }
}

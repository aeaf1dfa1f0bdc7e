import type { Command } from "commander";
import type { Digest } from "../../image/digest.js";
import type { ImageRecord } from "../../store/index.js";
import { registerInspectTarget } from "../inspect.js";
import { type CliStore, storeForRoot } from "../store-port.js";

/** `image inspect` (and `berth inspect`'s image side): the JSON Docker prints for an image. */

function fullContainerConfig(image: ImageRecord): Record<string, unknown> {
  const c = image.config.config ?? {};
  return {
    Hostname: "", Domainname: "", User: c.User ?? "", AttachStdin: false, AttachStdout: false, AttachStderr: false,
    ...(c.ExposedPorts ? { ExposedPorts: c.ExposedPorts } : {}),
    Tty: false, OpenStdin: false, StdinOnce: false,
    Env: c.Env ?? null, Cmd: c.Cmd ?? null,
    ...(c.Healthcheck ? { Healthcheck: c.Healthcheck } : {}),
    ...(c.ArgsEscaped !== undefined ? { ArgsEscaped: c.ArgsEscaped } : {}),
    Image: "", Volumes: c.Volumes ?? null, WorkingDir: c.WorkingDir ?? "", Entrypoint: c.Entrypoint ?? null,
    OnBuild: c.OnBuild ?? null, Labels: c.Labels ?? null,
    ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
    ...(c.Shell ? { Shell: c.Shell } : {}),
  };
}

/**
 * The JSON `docker image inspect` prints for an image; for an image of a multi-platform image,
 * with the tags of that (`also`), and its index as the Descriptor when it was named by its tag
 * without --platform, as Docker's containerd store shows it.
 */
export function imageInspectJson(image: ImageRecord, opts: { also?: readonly string[]; index?: { digest: Digest; mediaType: string } } = {}): Record<string, unknown> {
  const cfg = image.config as typeof image.config & { comment?: string; variant?: string };
  const dirs = image.layers.map((l) => l.dir).reverse();
  return {
    Id: image.id,
    RepoTags: [...image.repoTags, ...(opts.also ?? []).filter((t) => !image.repoTags.includes(t))],
    RepoDigests: image.repoDigests,
    Parent: "",
    Comment: cfg.comment ?? "",
    Created: cfg.created ?? "",
    DockerVersion: "",
    Author: cfg.author ?? "",
    Config: fullContainerConfig(image),
    Architecture: cfg.architecture,
    ...(cfg.variant ? { Variant: cfg.variant } : {}),
    Os: cfg.os,
    Size: image.size,
    GraphDriver: { Data: { LowerDir: dirs.join(":") }, Name: "overlay" },
    RootFS: { Type: "layers", Layers: image.config.rootfs.diff_ids },
    Metadata: { LastTagTime: "0001-01-01T00:00:00Z" },
    Descriptor: opts.index ?? { mediaType: image.manifest.mediaType ?? "application/vnd.oci.image.manifest.v1+json", digest: image.manifestDigest },
  };
}

registerInspectTarget({
  type: "image",
  order: 20,
  async find(name, root, platform) {
    const { NoSuchImageError, PlatformMismatchError, StoreError } = await import("../../store/index.js");
    const store: CliStore = await storeForRoot(root);
    try {
      // a multi-platform tag: this machine's image (refs.json's), or --platform's
      const image = await store.resolveImage(name, platform !== undefined ? { platform } : {});
      const index = platform === undefined ? await store.imageIndex(name) : undefined;
      return imageInspectJson(image, {
        also: (await store.indexes.memberTags()).get(image.id) ?? [],
        ...(index !== undefined ? { index: { mediaType: index.index.mediaType ?? "application/vnd.oci.image.index.v1+json", digest: index.digest } } : {}),
      });
    } catch (err) {
      if (err instanceof PlatformMismatchError) throw err;
      if (err instanceof NoSuchImageError || (err instanceof StoreError && /invalid reference/.test(err.message))) return undefined;
      throw err;
    }
  },
});

export function addImageInspect(image: Command): void {
  image.command("inspect")
    .description("Display detailed information on one or more images")
    .argument("<image...>")
    .option("-f, --format <format>", "format the output using a Go-like template, or json")
    .option("--platform <os/arch[/variant]>", "inspect this platform's image of a multi-platform image")
    .action(async (names: string[], opts: { format?: string; platform?: string }, cmd: Command) => {
      const { inspectObjects, printInspect } = await import("../inspect.js");
      const platform = opts.platform !== undefined ? (await import("../../image/platform.js")).parsePlatform(opts.platform) : undefined;
      const { found, missing } = await inspectObjects(names, { type: "image", root: cmd.optsWithGlobals<{ root?: string }>().root, ...(platform !== undefined ? { platform } : {}) });
      printInspect(found, opts.format);
      if (missing.length > 0) {
        for (const m of missing) process.stderr.write(`Error: No such image: ${m}\n`);
        process.exitCode = 1;
      }
    });
}

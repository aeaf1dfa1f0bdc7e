import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import type { Digest } from "../../image/digest.js";
import type { ImageRecord } from "../../store/index.js";
import { collect } from "../flags.js";
import { dockerTime, formatRows, humanSize, since, table } from "../format.js";
import { type CliStore, storeFor } from "../store-port.js";

/** `images` (image ls): Docker's rows, filters and formats. */

export const short = (d: string): string => d.slice(7, 19);

interface ImagesOpts { quiet?: boolean; all?: boolean; digests?: boolean; format?: string; noTrunc?: boolean; filter?: string[] }

interface ImageRow { repo: string; tag: string; digest: string; image: ImageRecord }

/**
 * `--filter dangling=true|false`, `--filter reference=PATTERN` (glob on repo[:tag], as Docker).
 * Dangling as the daemon decides it: an image without tags (one with only a digest reference
 * matches both true and false there too).
 */
function imageFilter(filters: string[]): (row: ImageRow) => boolean {
  const tests: ((row: ImageRow) => boolean)[] = [];
  for (const f of filters) {
    const eq = f.indexOf("=");
    const key = eq < 0 ? f : f.slice(0, eq);
    const value = eq < 0 ? "" : f.slice(eq + 1);
    if (key === "dangling") {
      if (value !== "true" && value !== "false") throw new UsageError(`invalid filter 'dangling=${value}': want true or false`);
      tests.push((r) => (value === "true" ? r.image.repoTags.length === 0 : r.image.repoTags.length > 0 || r.image.repoDigests.length > 0));
    } else if (key === "reference") {
      const glob = new RegExp(`^${value.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}$`);
      tests.push((r) => glob.test(r.repo) || glob.test(`${r.repo}:${r.tag}`));
    } else {
      throw new UsageError(`invalid filter '${key}' (supported: dangling, reference)`);
    }
  }
  return (row) => tests.every((t) => t(row));
}

/**
 * An image's rows as docker/cli lays them out (formatter/image.go): one per repository and tag;
 * with digests shown, one per tag and digest of that repository; a repository with only digest
 * references gets `<none>` tag rows; an image with neither is one `<none>` row.
 */
function imageRows(image: ImageRecord, withDigests: boolean): ImageRow[] {
  if (image.repoTags.length === 0 && image.repoDigests.length === 0) return [{ repo: "<none>", tag: "<none>", digest: "<none>", image }];
  const tags = new Map<string, string[]>();
  const digests = new Map<string, string[]>();
  for (const t of image.repoTags) {
    const i = t.lastIndexOf(":");
    tags.set(t.slice(0, i), [...(tags.get(t.slice(0, i)) ?? []), t.slice(i + 1)]);
  }
  for (const d of image.repoDigests) {
    const i = d.indexOf("@");
    digests.set(d.slice(0, i), [...(digests.get(d.slice(0, i)) ?? []), d.slice(i + 1)]);
  }
  const rows: ImageRow[] = [];
  for (const [repo, ts] of tags) {
    const ds = withDigests ? (digests.get(repo) ?? []) : [];
    digests.delete(repo);
    for (const tag of ts) {
      if (ds.length === 0) rows.push({ repo, tag, digest: "<none>", image });
      for (const digest of ds) rows.push({ repo, tag, digest, image });
    }
  }
  for (const [repo, ds] of digests) {
    if (withDigests) for (const digest of ds) rows.push({ repo, tag: "<none>", digest, image });
    else rows.push({ repo, tag: "<none>", digest: "", image });
  }
  return rows;
}

async function imagesAction(repo: string | undefined, opts: ImagesOpts, cmd: Command): Promise<void> {
  const { parseReference, familiarRepository } = await import("../../image/reference.js");
  const store: CliStore = await storeFor(cmd);
  // plain string order (ISO 8601 times): localeCompare would load ICU's collator at start-up
  const images = (await store.listImages()).sort((a, b) => {
    const x = a.config.created ?? "";
    const y = b.config.created ?? "";
    return x < y ? 1 : x > y ? -1 : 0;
  });
  let want: { repo: string; tag?: string } | undefined;
  if (repo !== undefined) {
    const r = parseReference(repo);
    want = { repo: familiarRepository(r), ...(r.tag ? { tag: r.tag } : {}) };
  }
  const keep = imageFilter(opts.filter ?? []);
  // docker/cli's needDigest: --digests, or a format that asks for {{.Digest}}
  const withDigests = opts.digests === true || (opts.format !== undefined && /\{\{\s*\.Digest\s*\}\}/.test(opts.format));
  // a multi-platform image's other platforms are listed under its tag (not as <none>)
  const { formatPlatform, hostPlatform, platformOfConfig } = await import("../../image/platform.js");
  const memberTags = await store.indexes.memberTags();
  const rows: ImageRow[] = [];
  for (const image0 of images) {
    const extra = (memberTags.get(image0.id) ?? []).filter((t) => !image0.repoTags.includes(t));
    const image = extra.length > 0 ? { ...image0, repoTags: [...image0.repoTags, ...extra].sort() } : image0;
    for (const row of imageRows(image, withDigests)) {
      if (want && (row.repo !== want.repo || (want.tag !== undefined && row.tag !== want.tag))) continue;
      if (!keep(row)) continue;
      rows.push(row);
    }
  }
  const id = (d: Digest): string => (opts.noTrunc ? d : short(d));
  if (opts.quiet) {
    process.stdout.write(rows.map((r) => `${id(r.image.id)}\n`).join(""));
    return;
  }
  if (opts.format && opts.format !== "table") {
    const objs = rows.map((r) => ({
      Containers: "N/A", CreatedAt: dockerTime(r.image.config.created), CreatedSince: since(r.image.config.created),
      Digest: r.digest, ID: id(r.image.id), Repository: r.repo, SharedSize: "N/A", Size: humanSize(r.image.size),
      Tag: r.tag, UniqueSize: "N/A", VirtualSize: humanSize(r.image.size), Platform: formatPlatform(platformOfConfig(r.image.config)),
    }));
    process.stdout.write(formatRows(opts.format, objs, {
      Containers: "CONTAINERS", CreatedAt: "CREATED AT", CreatedSince: "CREATED", Digest: "DIGEST", ID: "IMAGE ID", Repository: "REPOSITORY",
      SharedSize: "SHARED SIZE", Size: "SIZE", Tag: "TAG", UniqueSize: "UNIQUE SIZE", VirtualSize: "VIRTUAL SIZE", Platform: "PLATFORM",
    }));
    return;
  }
  // a PLATFORM column when some image is not of this machine's platform, or of a multi-platform image
  const host = formatPlatform(hostPlatform());
  const withPlatform = rows.some((r) => memberTags.has(r.image.id) || formatPlatform(platformOfConfig(r.image.config)) !== host);
  const header = [...(opts.digests ? ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"] : ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]), ...(withPlatform ? ["PLATFORM"] : [])];
  process.stdout.write(table(header, rows.map((r) => [
    r.repo, r.tag, ...(opts.digests ? [r.digest] : []),
    id(r.image.id), since(r.image.config.created), humanSize(r.image.size),
    ...(withPlatform ? [formatPlatform(platformOfConfig(r.image.config))] : []),
  ])));
}

export function addImages(g: Command, name: string, alias?: string): void {
  const c = g.command(name)
    .description("List images")
    .argument("[repository]", "REPOSITORY[:TAG]")
    .option("-q, --quiet", "only show image IDs")
    .option("-a, --all", "show all images (default hides intermediate images)")
    .option("--digests", "show digests")
    .option("-f, --filter <filter>", "filter output: dangling=true|false, reference=PATTERN", collect, [])
    .option("--no-trunc", "don't truncate output")
    .option("--format <format>", "format output using a Go-like template, or json")
    .action((repo: string | undefined, opts: ImagesOpts & { trunc?: boolean }, cmd: Command) => imagesAction(repo, { ...opts, noTrunc: opts.trunc === false }, cmd));
  if (alias) c.alias(alias);
}

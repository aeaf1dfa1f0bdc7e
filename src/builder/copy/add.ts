import { addArchive, detectArchive } from "./archive.js";
import { CopyError } from "./errors.js";
import { writeCopy, type WriteCopyOptions, type WriteCopyResult } from "./writer.js";

/**
 * ADD of local sources: each resolved file that is a tar archive (any compression Docker
 * detects) is unpacked into dest (as a directory); everything else is copied as COPY does.
 * Sources are applied in order, so a later one overwrites an earlier one as in BuildKit.
 */
export async function writeAdd(options: WriteCopyOptions): Promise<WriteCopyResult> {
  if ((options.declaredSources ?? 1) > 1 && !options.dest.endsWith("/")) {
    throw new CopyError("When using ADD with more than one source file, the destination must be a directory and end with a /", { path: options.dest });
  }
  const total: WriteCopyResult = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, bytes: 0, reused: 0 };
  const addUp = (r: WriteCopyResult): void => {
    total.files += r.files;
    total.dirs += r.dirs;
    total.symlinks += r.symlinks;
    total.hardlinks += r.hardlinks;
    total.bytes += r.bytes;
  };
  let batch: typeof options.sources[number][] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    addUp(await writeCopy({ ...options, sources: batch, declaredSources: 1, command: "ADD" }));
    batch = [];
  };
  for (const s of options.sources) {
    const compression = s.root.type === "file" ? await detectArchive(options.source.hostPath(s.srcRel)) : undefined;
    if (compression === undefined) {
      batch.push(s);
      continue;
    }
    await flush();
    addUp(
      await addArchive({
        archivePath: options.source.hostPath(s.srcRel),
        label: s.spec,
        compression,
        dest: options.dest,
        upperDir: options.upperDir,
        lowerDirs: options.lowerDirs,
        owner: options.owner,
        mtime: options.mtime,
        isOpaque: options.isOpaque,
      }),
    );
  }
  await flush();
  return total;
}

import { mkdtemp, rm, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DirSourceFs, resolveCopySources, type ResolvedSource } from "../../context/index.js";
import { CopyError } from "./errors.js";

export interface HeredocSource {
  source: DirSourceFs;
  sources: ResolvedSource[];
  cleanup(): Promise<void>;
}

/**
 * `COPY <<EOF /dst`: BuildKit writes the heredoc's text as a file named after the heredoc
 * (mode 0644, owner 0:0, mtime now) in a scratch tree and copies that like any file source
 * (so `--chown`, `--chmod` and the destination rules apply). Pass the result to writeCopy.
 */
export async function heredocSource(files: readonly { name: string; content: string }[]): Promise<HeredocSource> {
  const dir = await mkdtemp(join(tmpdir(), "berth-heredoc-"));
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    for (const f of files) {
      if (f.name === "" || f.name.includes("/") || f.name === "." || f.name === "..") {
        throw new CopyError(`invalid heredoc name ${JSON.stringify(f.name)}`);
      }
      const p = join(dir, f.name);
      await writeFile(p, f.content);
      await chmod(p, 0o644);
    }
    const source = new DirSourceFs(dir, "heredoc");
    return { source, sources: resolveCopySources(source, files.map((f) => f.name)), cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

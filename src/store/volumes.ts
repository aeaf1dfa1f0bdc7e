import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic.js";
import { StoreError } from "./errors.js";
import { recordEvent } from "./events.js";

/** A named volume: a directory berth manages, mounted into containers with `-v name:/path`. */
export interface VolumeInfo {
  Name: string;
  Driver: "local";
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: "local";
  /** created for an image VOLUME without a name: removed by `rm -v` */
  Anonymous: boolean;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function isVolumeName(s: string): boolean {
  return NAME.test(s);
}

/** Volume errors are the runtime's (Docker's exit code 125). */
function volumeError(message: string): StoreError {
  return new StoreError(message, { exitCode: 125 });
}

/** `volumes/<name>/{volume.json,_data}`, as Docker lays them out. */
export class Volumes {
  private readonly dir: string;

  constructor(private readonly root: string) {
    this.dir = join(root, "volumes");
  }

  async create(name?: string, options: { labels?: Record<string, string>; anonymous?: boolean } = {}): Promise<VolumeInfo> {
    const volName = name ?? randomBytes(32).toString("hex");
    if (!NAME.test(volName)) throw volumeError(`invalid volume name "${volName}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const dir = join(this.dir, volName);
    const existing = await this.inspect(volName).catch(() => undefined);
    if (existing !== undefined) return existing; // Docker: creating an existing volume is a no-op
    await mkdir(join(dir, "_data"), { recursive: true, mode: 0o755 });
    const info: VolumeInfo = {
      Name: volName,
      Driver: "local",
      Mountpoint: join(dir, "_data"),
      CreatedAt: new Date().toISOString(),
      Labels: options.labels ?? {},
      Scope: "local",
      Anonymous: options.anonymous === true,
    };
    await writeFileAtomic(join(dir, "volume.json"), JSON.stringify(info));
    recordEvent(this.root, "volume", "create", volName, { driver: "local" });
    return info;
  }

  async inspect(name: string): Promise<VolumeInfo> {
    try {
      if (!NAME.test(name)) throw new Error("invalid name");
      return JSON.parse(await readFile(join(this.dir, name, "volume.json"), "utf8")) as VolumeInfo;
    } catch {
      throw volumeError(`no such volume: ${name}`);
    }
  }

  async list(): Promise<VolumeInfo[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: VolumeInfo[] = [];
    for (const n of names.sort()) {
      const v = await this.inspect(n).catch(() => undefined);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  /** Removes a volume; `inUseBy` lists the containers using it (Docker refuses then, unless forced). */
  async remove(name: string, inUseBy: string[] = []): Promise<void> {
    await this.inspect(name);
    if (inUseBy.length > 0) throw volumeError(`remove ${name}: volume is in use - [${inUseBy.join(", ")}]`);
    await rm(join(this.dir, name), { recursive: true, force: true });
    recordEvent(this.root, "volume", "destroy", name, { driver: "local" });
  }
}

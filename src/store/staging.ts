import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Lease, type LeaseNote } from "./leases.js";

/**
 * `tmp/`: staging on the store's file system (so that commits are renames); nothing in it is
 * part of the store. Holds this process's lease (leases.ts), taken before the process first
 * makes something a kill would leave behind.
 */
export class Staging {
  readonly dir: string;
  private lease: Lease | null | undefined;

  constructor(private readonly root: string) {
    this.dir = join(root, "tmp");
  }

  /** Holds the lease from now on, and notes in it a snapshot or layer dir about to be made. */
  note(kind?: LeaseNote, name?: string): void {
    if (this.lease === undefined) this.lease = Lease.take(this.root) ?? null;
    if (kind !== undefined && name !== undefined) this.lease?.note(kind, name);
  }

  /** A fresh path under tmp/, its name carrying this process's pid (see owners.ts). */
  path(prefix: string): string {
    this.note();
    return join(this.dir, `${prefix}-${process.pid}-${randomBytes(6).toString("hex")}`);
  }

  /** Ends the lease (its file is held open until then). */
  end(): void {
    this.lease?.end();
    this.lease = undefined;
  }
}

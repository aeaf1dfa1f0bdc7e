import type { Digest } from "../image/digest.js";

/** What a layer transfer is doing; the progress module renders these. */
export type TransferState =
  | "waiting"
  | "downloading"
  | "uploading"
  | "retrying"
  | "done"
  | "exists" // already in the store (pull) or the registry (push): skipped
  | "mounted"; // cross-repository mount: the registry copied it, no bytes sent

export interface TransferProgress {
  direction: "pull" | "push";
  /** The image reference being pulled or pushed. */
  reference: string;
  digest: Digest;
  mediaType?: string;
  /** Bytes done so far and the total (the descriptor's size). */
  bytes: number;
  total: number;
  /** Bytes per second, averaged since the transfer started. */
  rate: number;
  state: TransferState;
}

export type ProgressCallback = (event: TransferProgress) => void;

/** Emits progress for one blob, at most every `intervalMs` while bytes flow (a callback per chunk would cost more than it says). */
export class ProgressMeter {
  private bytes = 0;
  private lastEmit = 0;
  private readonly started = Date.now();

  constructor(
    private readonly callback: ProgressCallback | undefined,
    private readonly base: Omit<TransferProgress, "bytes" | "rate" | "state">,
    private readonly intervalMs = 100,
  ) {}

  get transferred(): number {
    return this.bytes;
  }

  state(state: TransferState, bytes = this.bytes): void {
    this.bytes = bytes;
    this.emit(state);
  }

  add(n: number, state: TransferState): void {
    this.bytes += n;
    if (this.callback === undefined) return;
    const now = Date.now();
    if (now - this.lastEmit >= this.intervalMs) {
      this.lastEmit = now;
      this.emit(state);
    }
  }

  private emit(state: TransferState): void {
    if (this.callback === undefined) return;
    const seconds = Math.max((Date.now() - this.started) / 1000, 0.001);
    this.callback({ ...this.base, bytes: this.bytes, rate: Math.round(this.bytes / seconds), state });
  }
}

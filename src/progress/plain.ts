import type { BuildEvent } from "../builder/events.js";

/** BuildKit's `--progress=plain`: `#N name`, prefixed output lines, `#N DONE 0.1s` / `#N CACHED`. */
export class PlainRenderer {
  private readonly starts = new Map<number, number>();
  private readonly partial = new Map<number, string>();

  constructor(private readonly out: NodeJS.WritableStream, private readonly explain = true) {}

  handle(e: BuildEvent): void {
    switch (e.type) {
      case "step":
        this.starts.set(e.id, e.time);
        this.out.write(`#${e.id} ${e.name}\n`);
        break;
      case "cached":
        this.out.write(`#${e.id} CACHED\n\n`);
        this.starts.delete(e.id);
        break;
      case "explain":
        if (this.explain) for (const r of e.reasons) this.out.write(`#${e.id} cache miss: ${r}\n`);
        break;
      case "log": {
        const start = this.starts.get(e.id) ?? e.time;
        const text = (this.partial.get(e.id) ?? "") + e.data;
        const lines = text.split("\n");
        this.partial.set(e.id, lines.pop() ?? "");
        const t = ((e.time - start) / 1000).toFixed(3);
        for (const l of lines) this.out.write(`#${e.id} ${t} ${l}\n`);
        break;
      }
      case "done": {
        this.flush(e.id, e.time);
        if (!this.starts.has(e.id)) break;
        const start = this.starts.get(e.id) ?? e.time;
        this.out.write(`#${e.id} DONE ${((e.time - start) / 1000).toFixed(1)}s\n\n`);
        this.starts.delete(e.id);
        break;
      }
      case "error":
        this.flush(e.id, e.time);
        this.out.write(`#${e.id} ERROR: ${e.message}\n\n`);
        this.starts.delete(e.id);
        break;
      case "warning":
        this.out.write(`${e.message}\n`);
        break;
      case "info":
        this.out.write(`${e.message}\n`);
        break;
    }
  }

  private flush(id: number, time: number): void {
    const rest = this.partial.get(id);
    if (rest !== undefined && rest !== "") {
      const start = this.starts.get(id) ?? time;
      this.out.write(`#${id} ${((time - start) / 1000).toFixed(3)} ${rest}\n`);
    }
    this.partial.delete(id);
  }

  finish(): void {}
}

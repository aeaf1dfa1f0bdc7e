import type { BuildEvent } from "../builder/events.js";

interface Row {
  id: number;
  name: string;
  start: number;
  end: number | undefined;
  cached: boolean;
  error: string | undefined;
  lines: string[];
  partial: string;
}

const LIVE_LINES = 6;

/**
 * BuildKit's tty display: `[+] Building 1.2s (4/6)`, one row per step with its duration or
 * CACHED, the last lines of running steps' output folded below them; redrawn in place.
 */
export class TtyRenderer {
  private readonly rows: Row[] = [];
  private readonly byId = new Map<number, Row>();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = Date.now();
  private readonly messages: string[] = [];

  constructor(
    private readonly out: NodeJS.WritableStream & { columns?: number },
    private readonly explain = false,
  ) {}

  handle(e: BuildEvent): void {
    switch (e.type) {
      case "step": {
        const r: Row = { id: e.id, name: e.name, start: e.time, end: undefined, cached: false, error: undefined, lines: [], partial: "" };
        this.rows.push(r);
        this.byId.set(e.id, r);
        break;
      }
      case "cached": {
        const r = this.byId.get(e.id);
        if (r) {
          r.cached = true;
          r.end = e.time;
        }
        break;
      }
      case "log": {
        const r = this.byId.get(e.id);
        if (r) {
          const parts = (r.partial + e.data).split("\n");
          r.partial = parts.pop() ?? "";
          r.lines.push(...parts);
          if (r.lines.length > 200) r.lines.splice(0, r.lines.length - 200);
        }
        break;
      }
      case "done":
      case "error": {
        const r = this.byId.get(e.id);
        if (r) {
          r.end ??= e.time;
          if (e.type === "error") r.error = e.message;
        }
        break;
      }
      case "explain":
        if (this.explain) for (const r of e.reasons) this.messages.push(`${this.byId.get(e.id)?.name ?? "#" + e.id}: cache miss: ${r}`);
        break;
      case "warning":
      case "info":
        this.messages.push(e.message);
        break;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draw(false);
    }, 80);
  }

  private draw(final: boolean): void {
    const width = Math.max(40, this.out.columns ?? 100);
    const now = Date.now();
    const done = this.rows.filter((r) => r.end !== undefined).length;
    const lines: string[] = [`[+] Building ${((now - this.t0) / 1000).toFixed(1)}s (${done}/${this.rows.length})${final ? " FINISHED" : ""}`];
    for (const r of this.rows) {
      const dur = r.cached ? "0.0s" : `${(((r.end ?? now) - r.start) / 1000).toFixed(1)}s`;
      const head = ` => ${r.cached ? "CACHED " : r.error !== undefined ? "ERROR " : ""}${r.name}`;
      const cut = head.length + dur.length + 1 > width ? head.slice(0, Math.max(10, width - dur.length - 2)) : head;
      lines.push(cut + " ".repeat(Math.max(1, width - cut.length - dur.length)) + dur);
      const running = r.end === undefined && !final;
      if (running || r.error !== undefined) {
        const tail = [...r.lines, ...(r.partial !== "" ? [r.partial] : [])].slice(running ? -LIVE_LINES : -20);
        for (const l of tail) lines.push(` => => # ${l}`.slice(0, width));
      }
    }
    let s = "";
    if (this.drawn > 0) s += `\u001b[${this.drawn}A\u001b[J`;
    s += lines.join("\n") + "\n";
    this.out.write(s);
    this.drawn = lines.length;
  }

  finish(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.draw(true);
    for (const m of this.messages) this.out.write(m + "\n");
  }
}

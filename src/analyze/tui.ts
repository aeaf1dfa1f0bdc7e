import chalk, { Chalk, type ChalkInstance } from "chalk";
import { formatBytes } from "./advice.js";
import type { ImageAnalysis, LayerAnalysis } from "./analysis.js";
import type { LayerListing } from "./layers.js";
import { layerTree, type Diff, type TreeNode } from "./tree.js";

export type Key = "up" | "down" | "left" | "right" | "pageUp" | "pageDown" | "tab" | "space" | "filter" | "quit";

const SEQUENCES: [string, Key][] = [
  ["\x1b[A", "up"], ["\x1bOA", "up"], ["\x1b[B", "down"], ["\x1bOB", "down"],
  ["\x1b[C", "right"], ["\x1bOC", "right"], ["\x1b[D", "left"], ["\x1bOD", "left"],
  ["\x1b[5~", "pageUp"], ["\x1b[6~", "pageDown"],
  ["\t", "tab"], [" ", "space"], ["k", "up"], ["j", "down"], ["h", "left"], ["l", "right"],
  ["\x15", "filter"], ["q", "quit"], ["\x03", "quit"],
];

/** The keys in what the terminal sent (several can come in one read); anything else is skipped. */
export function parseKeys(input: string): Key[] {
  const keys: Key[] = [];
  let i = 0;
  while (i < input.length) {
    const hit = SEQUENCES.find(([seq]) => input.startsWith(seq, i));
    if (hit !== undefined) {
      keys.push(hit[1]);
      i += hit[0].length;
    } else if (input[i] === "\x1b" && input[i + 1] === "[") {
      // an escape sequence not handled: skip up to its final byte
      i += 2;
      while (i < input.length && !/[@-~]/.test(input[i]!)) i++;
      i++;
    } else i++;
  }
  return keys;
}

/** A piece of a line and its style. */
type Segment = [text: string, style?: (s: string) => string];

/** Segments cut and padded to exactly `width` columns, each styled, then the whole row's style. */
function fit(segments: readonly Segment[], width: number, row: (s: string) => string = (s) => s): string {
  let out = "";
  let left = width;
  for (const [text, style] of segments) {
    if (left <= 0) break;
    const chars = [...text].slice(0, left);
    left -= chars.length;
    const t = chars.join("");
    out += row(style !== undefined ? style(t) : t);
  }
  return out + row(" ".repeat(left));
}

const PERMS = "rwxrwxrwx";
function permissions(node: TreeNode): string {
  let s = node.kind === "dir" ? "d" : node.kind === "symlink" ? "l" : "-";
  for (let b = 0; b < 9; b++) s += node.mode & (0o400 >> b) ? PERMS[b] : "-";
  return s;
}

interface Row {
  node: TreeNode;
  prefix: string;
}

/**
 * dive's two panes over an analysis: the layers (size, Dockerfile line, instruction) with the
 * selected layer's and the image's details below them, and the image's file tree as of the
 * selected layer, its changes coloured as dive colours them (added green, modified yellow,
 * removed red) and marked (+ ~ -) for terminals without colour.
 */
export class AnalyzeView {
  layer = 0;
  pane: "layers" | "tree" = "layers";
  cursor = 0;
  /** First tree row shown. */
  top = 0;
  hideUnmodified = false;
  /** Directories collapsed, by path (kept from layer to layer). */
  readonly collapsed = new Set<string>();
  private readonly trees = new Map<number, TreeNode>();
  private readonly colour: Record<Diff, (s: string) => string>;

  constructor(
    private readonly analysis: ImageAnalysis,
    private readonly listings: readonly LayerListing[],
    private readonly c: ChalkInstance = chalk,
  ) {
    this.colour = { added: c.green, modified: c.yellow, removed: c.red, unmodified: (s) => s };
  }

  private tree(): TreeNode {
    let t = this.trees.get(this.layer);
    if (t === undefined) {
      t = layerTree(this.listings, this.layer);
      this.trees.set(this.layer, t);
    }
    return t;
  }

  /** The tree's visible rows: collapsed directories' children and, filtered, unmodified paths left out. */
  rows(): Row[] {
    const out: Row[] = [];
    const walk = (node: TreeNode, indent: string): void => {
      const shown = node.children.filter((c) => !this.hideUnmodified || c.diff !== "unmodified");
      shown.forEach((child, i) => {
        const last = i === shown.length - 1;
        out.push({ node: child, prefix: indent + (last ? "└── " : "├── ") });
        if (child.kind === "dir" && !this.collapsed.has(child.path)) walk(child, indent + (last ? "    " : "│   "));
      });
    };
    walk(this.tree(), "");
    return out;
  }

  /** Applies a key; true when it quits. */
  key(k: Key, pageSize: number): boolean {
    if (k === "quit") return true;
    if (k === "tab") this.pane = this.pane === "layers" ? "tree" : "layers";
    else if (k === "filter") {
      this.hideUnmodified = !this.hideUnmodified;
      this.cursor = 0;
      this.top = 0;
    } else if (this.pane === "layers") {
      const step = k === "up" ? -1 : k === "down" ? 1 : k === "pageUp" ? -pageSize : k === "pageDown" ? pageSize : 0;
      const next = Math.max(0, Math.min(this.analysis.layers.length - 1, this.layer + step));
      if (next !== this.layer) {
        this.layer = next;
        this.cursor = 0;
        this.top = 0;
      }
    } else {
      const rows = this.rows();
      const node = rows[this.cursor]?.node;
      if (k === "up" || k === "down" || k === "pageUp" || k === "pageDown") {
        const step = k === "up" ? -1 : k === "down" ? 1 : k === "pageUp" ? -pageSize : pageSize;
        this.cursor = Math.max(0, Math.min(rows.length - 1, this.cursor + step));
      } else if (node?.kind === "dir") {
        const collapsed = this.collapsed.has(node.path);
        if (k === "space" ? collapsed : k === "right") this.collapsed.delete(node.path);
        else this.collapsed.add(node.path);
      }
    }
    return false;
  }

  /** The screen: `height` lines of `width` columns. */
  render(width: number, height: number): string[] {
    const c = this.c;
    const leftWidth = Math.max(30, Math.min(70, Math.floor(width * 0.42)));
    const rightWidth = Math.max(1, width - leftWidth - 1);
    const body = Math.max(1, height - 2);
    const title = (text: string, on: boolean, w: number): string => fit([[text]], w, on ? c.inverse.bold : c.bold);
    const lines = [
      title(" Layers", this.pane === "layers", leftWidth) + " " + title(` Current Layer Contents (layer ${this.layer})${this.hideUnmodified ? " — changes only" : ""}`, this.pane === "tree", rightWidth),
    ];
    const left = this.leftPane(leftWidth, body);
    const right = this.rightPane(rightWidth, body);
    for (let i = 0; i < body; i++) lines.push(left[i]! + c.dim("│") + right[i]!);
    lines.push(fit([
      [" ↑/↓ "], [this.pane === "layers" ? "layer" : "file", c.bold], ["  Tab "], ["switch pane", c.bold], ["  ←/→/Space "], ["collapse", c.bold],
      ["  ^U "], [this.hideUnmodified ? "show unmodified" : "changes only", c.bold], ["  q "], ["quit", c.bold],
    ], width - 1));
    return lines;
  }

  private leftPane(width: number, height: number): string[] {
    const c = this.c;
    const a = this.analysis;
    const layer = a.layers[this.layer]!;
    const details = this.details(layer, width);
    const listHeight = Math.max(Math.min(a.layers.length + 1, 4), height - details.length - 1);
    const lineWidth = Math.max(4, ...a.layers.map((l) => lineColumn(l).length));
    const out = [fit([["  #  " + "Line".padEnd(lineWidth) + "      Size  Instruction", c.underline]], width)];
    const visible = listHeight - 1;
    const first = Math.max(0, Math.min(this.layer - Math.floor(visible / 2), a.layers.length - visible));
    for (const l of a.layers.slice(first, first + visible)) {
      const selected = l.index === this.layer;
      const text = `${String(l.index).padStart(3)}  ${lineColumn(l).padEnd(lineWidth)}  ${formatBytes(l.sizeBytes).padStart(8)}  ${oneLine(l.command)}`;
      out.push(fit([[text]], width, selected ? (this.pane === "layers" ? c.inverse : c.bold) : undefined));
    }
    while (out.length < listHeight) out.push(fit([], width));
    out.push(fit([], width), ...details);
    return out.slice(0, height).concat(Array.from({ length: Math.max(0, height - out.length) }, () => fit([], width)));
  }

  private details(layer: LayerAnalysis, width: number): string[] {
    const c = this.c;
    const a = this.analysis;
    const field = (name: string, value: string): string => fit([[name + " ", c.bold], [value]], width);
    const command = oneLine(layer.command);
    const wrapped: string[] = [];
    for (let i = 0; i < Math.min(command.length, (width - 2) * 3); i += width - 2) wrapped.push(fit([["  " + command.slice(i, i + width - 2)]], width));
    return [
      fit([["Layer details", c.underline]], width),
      field("Digest:", layer.diffId),
      field("Line:", layer.lines !== undefined ? lineColumn(layer) : "- (not built by berth)"),
      field("Changes:", `+${layer.added} ~${layer.changed} -${layer.removed}, ${formatBytes(layer.wastedBytes)} wasted`),
      field("Command:", ""),
      ...wrapped,
      fit([], width),
      fit([["Image details", c.underline]], width),
      field("Image name:", a.image.tags[0] ?? a.image.id.slice(7, 19)),
      field("Total image size:", formatBytes(a.sizeBytes)),
      field("Potential wasted space:", formatBytes(a.inefficientBytes)),
      field("Image efficiency score:", `${Math.round(a.efficiencyScore * 100)} %`),
      field("Hidden or duplicate (berth):", formatBytes(a.wastedBytes)),
    ];
  }

  private rightPane(width: number, height: number): string[] {
    const c = this.c;
    const rows = this.rows();
    const visible = height - 1;
    if (this.cursor >= rows.length) this.cursor = Math.max(0, rows.length - 1);
    if (this.cursor < this.top) this.top = this.cursor;
    if (this.cursor >= this.top + visible) this.top = this.cursor - visible + 1;
    const out = [fit([["  Permission     UID:GID       Size  Filetree", c.underline]], width)];
    const marks: Record<Diff, string> = { added: "+", modified: "~", removed: "-", unmodified: " " };
    rows.slice(this.top, this.top + visible).forEach((r, i) => {
      const n = r.node;
      const dir = n.kind === "dir";
      const selected = this.pane === "tree" && this.top + i === this.cursor;
      const attrs = `${marks[n.diff]} ${permissions(n)} ${`${n.uid}:${n.gid}`.padStart(9)} ${formatBytes(n.size).padStart(10)}  `;
      const name = dir ? (this.collapsed.has(n.path) ? "⊕ " : "") + n.name + "/" : n.name;
      out.push(fit([[attrs, this.colour[n.diff]], [r.prefix, c.dim], [name, this.colour[n.diff]]], width, selected ? c.inverse : undefined));
    });
    if (rows.length === 0) out.push(fit([["  (no files" + (this.hideUnmodified ? " changed by this layer)" : ")"), c.dim]], width));
    while (out.length < height) out.push(fit([], width));
    return out;
  }
}

const lineColumn = (l: LayerAnalysis): string => (l.lines === undefined ? "-" : l.lines[0] === l.lines[1] ? String(l.lines[0]) : `${l.lines[0]}-${l.lines[1]}`);
const oneLine = (s: string): string => s.replace(/\s+# buildkit$/, "").replace(/\s+/g, " ");

const ENTER = "\x1b[?1049h\x1b[?25l";
const LEAVE = "\x1b[?25h\x1b[?1049l";

/**
 * Runs the view on a terminal until `q` or Ctrl-C: the alternate screen, raw input, a redraw per
 * key and per resize. The terminal is given back (cooked input, the cursor, the screen it had)
 * however it ends: a key, an error, SIGTERM or SIGHUP.
 */
/**
 * The colours of the interactive view: it only runs on a terminal, so it colours as dive does,
 * even where chalk's own guess says no (chalk turns colour off whenever $CI is set); NO_COLOR,
 * FORCE_COLOR=0 and TERM=dumb still turn it off.
 */
export function terminalColours(env: NodeJS.ProcessEnv = process.env): ChalkInstance {
  if (env.NO_COLOR !== undefined || env.TERM === "dumb" || env.FORCE_COLOR === "0" || env.FORCE_COLOR === "false") return new Chalk({ level: 0 });
  return new Chalk({ level: chalk.level > 0 ? chalk.level : 1 });
}

export async function runInteractive(view: AnalyzeView, input: NodeJS.ReadStream, output: NodeJS.WriteStream): Promise<void> {
  const size = (): { width: number; height: number } => ({ width: output.columns || 80, height: output.rows || 24 });
  const draw = (): void => {
    const { width, height } = size();
    output.write(view.render(width, height).map((line, i) => `\x1b[${i + 1};1H${line}`).join(""));
  };
  let signalled: NodeJS.Signals | undefined;
  let finish: (err?: Error) => void = () => {};
  const onData = (chunk: Buffer): void => {
    try {
      for (const k of parseKeys(chunk.toString("utf8"))) if (view.key(k, size().height - 4)) return finish();
      draw();
    } catch (err) {
      finish(err as Error);
    }
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    signalled = sig;
    finish();
  };
  try {
    output.write(ENTER);
    input.setRawMode(true);
    const done = new Promise<void>((resolve, reject) => {
      finish = (err) => (err === undefined ? resolve() : reject(err));
    });
    input.on("data", onData);
    output.on("resize", draw);
    process.once("SIGTERM", onSignal).once("SIGHUP", onSignal);
    input.resume();
    draw();
    await done;
  } finally {
    input.off("data", onData);
    output.off("resize", draw);
    process.off("SIGTERM", onSignal).off("SIGHUP", onSignal);
    input.setRawMode(false);
    input.pause();
    output.write(LEAVE);
  }
  if (signalled !== undefined) process.exitCode = 128 + (signalled === "SIGTERM" ? 15 : 1);
}

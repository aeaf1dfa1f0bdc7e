import { formatBytes, whereOf, type Advice } from "./advice.js";
import type { ImageAnalysis } from "./analysis.js";

/**
 * One self-contained page (no network: styles, SVG and script inline): a timeline with a block
 * per layer (its size, the part of it no container sees, its Dockerfile line), a treemap of the
 * final file system coloured by the layer that wrote each file, and the advice. Clicking a
 * layer's block dims the files of the other layers.
 */
export function renderHtml(a: ImageAnalysis, advice: readonly Advice[]): string {
  const name = a.image.tags[0] ?? a.image.id.slice(7, 19);
  const maxLayer = Math.max(1, ...a.layers.map((l) => l.sizeBytes));
  const layerBlocks = a.layers.map((l) => {
    const width = (l.sizeBytes / maxLayer) * 100;
    const waste = l.sizeBytes > 0 ? Math.min(100, (l.wastedBytes / l.sizeBytes) * 100) : 0;
    return `<div class="layer" data-layer="${l.index}" tabindex="0">
  <div class="swatch" style="background:${colour(l.index)}"></div>
  <div class="meta"><span class="where">${esc(l.lines !== undefined ? whereOf(l) : `layer ${l.index}`)}</span> <code>${esc(shorten(l.command.replace(/\s+# buildkit$/, ""), 110))}</code>
    <div class="counts">${esc(formatBytes(l.sizeBytes))}${l.wastedBytes > 0 ? ` · <span class="wasted">${esc(formatBytes(l.wastedBytes))} wasted</span>` : ""} · +${l.added} ~${l.changed} −${l.removed}</div></div>
  <div class="bar"><div class="fill" style="width:${width.toFixed(2)}%;background:${colour(l.index)}"><div class="waste" style="width:${waste.toFixed(2)}%"></div></div></div>
</div>`;
  });
  const adviceItems = advice.map((ad) => `<li class="advice-item" data-kind="${ad.kind}">${inlineCode(ad.message)}</li>`);
  const wasted = [...a.hidden].filter((h) => h.sizeBytes > 0).sort((x, y) => y.sizeBytes - x.sizeBytes).slice(0, 50);
  const wastedRows = wasted.map((h) => `<tr><td><code>${esc(h.path)}</code></td><td>${esc(formatBytes(h.sizeBytes))}</td><td>${esc(whereOf(a.layers[h.addedBy]!))}</td><td>${h.how} at ${esc(whereOf(a.layers[h.hiddenBy]!))}</td></tr>`);
  for (const d of a.duplicates.slice(0, 50 - wastedRows.length)) {
    const first = d.copies[0]!;
    for (const c of d.copies.filter((c) => c.layer !== first.layer)) {
      wastedRows.push(`<tr><td><code>${esc(c.path)}</code></td><td>${esc(formatBytes(d.sizeBytes))}</td><td>${esc(whereOf(a.layers[c.layer]!))}</td><td>same content as <code>${esc(first.path)}</code> (${esc(whereOf(a.layers[first.layer]!))})</td></tr>`);
    }
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>berth image analyze: ${esc(name)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d232b;background:#fafbfc}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.summary{display:flex;gap:24px;flex-wrap:wrap;margin:8px 0 16px}.summary div{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:8px 12px}
.summary b{display:block;font-size:18px}
.layer{display:grid;grid-template-columns:14px minmax(280px,1fr) 2fr;gap:10px;align-items:center;background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:6px 10px;margin:4px 0;cursor:pointer}
.layer.active{outline:2px solid #2b6cb0}.swatch{width:14px;height:14px;border-radius:3px}
.meta code{font-size:12px;color:#444;word-break:break-all}.where{font-weight:600}.counts{font-size:12px;color:#555}.wasted{color:#c53030;font-weight:600}
.bar{background:#eef0f3;border-radius:3px;height:16px}.fill{height:16px;border-radius:3px;position:relative;min-width:1px}
.waste{position:absolute;right:0;top:0;height:16px;background:repeating-linear-gradient(45deg,#c53030 0 4px,#f56565 4px 8px);border-radius:0 3px 3px 0}
svg .tm-dir{fill:none;stroke:#fff}svg .tm-label{font-size:11px;fill:#fff;pointer-events:none}
svg.dimmed rect.tm-file{opacity:.15}svg.dimmed rect.tm-file.on{opacity:1}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #dde1e6;padding:3px 8px;text-align:left;font-size:13px}
.advice-item{margin:4px 0}
</style></head><body>
<h1>${esc(name)}</h1>
<div class="id"><code>${esc(a.image.id)}</code>${a.image.dockerfile !== undefined ? ` · built from <code>${esc(a.image.dockerfile)}</code>` : ""}</div>
<div class="summary">
<div>image size<b>${esc(formatBytes(a.sizeBytes))}</b></div>
<div>wasted (no container sees it)<b class="wasted">${esc(formatBytes(a.wastedBytes))}</b></div>
<div>efficiency (dive's score)<b>${(a.efficiencyScore * 100).toFixed(2)} %</b></div>
<div>dive's inefficient bytes<b>${esc(formatBytes(a.inefficientBytes))}</b></div>
<div>layers<b>${a.layers.length}</b></div>
</div>
<h2>Layers</h2>
<div id="layers">
${layerBlocks.join("\n")}
</div>
<h2>Final file system, by the layer that wrote each file</h2>
${treemap(a, 1100, 520)}
<h2>Advice</h2>
${adviceItems.length > 0 ? `<ol id="advice">\n${adviceItems.join("\n")}\n</ol>` : `<p id="advice">Nothing to improve: no layer hides or repeats another's files.</p>`}
<h2>Wasted files</h2>
${wastedRows.length > 0 ? `<table id="wasted"><tr><th>file</th><th>size</th><th>added at</th><th>why it is wasted</th></tr>\n${wastedRows.join("\n")}\n</table>` : "<p id=\"wasted\">None.</p>"}
<script>
(function(){
  var svg=document.getElementById("treemap");var active=null;
  function show(i){
    document.querySelectorAll(".layer").forEach(function(b){b.classList.toggle("active",b.dataset.layer===i);});
    svg.classList.toggle("dimmed",i!==null);
    svg.querySelectorAll("rect.tm-file").forEach(function(r){r.classList.toggle("on",r.dataset.layer===i);});
  }
  document.querySelectorAll(".layer").forEach(function(b){
    function pick(){active=active===b.dataset.layer?null:b.dataset.layer;show(active);}
    b.addEventListener("click",pick);
    b.addEventListener("keydown",function(e){if(e.key==="Enter"||e.key===" "){e.preventDefault();pick();}});
  });
})();
</script>
</body></html>
`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** Escapes, then sets `code` spans in <code>. */
function inlineCode(s: string): string {
  return esc(s).replace(/`([^`]+)`/g, "<code>$1</code>");
}

function shorten(s: string, max: number): string {
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

/** A colour per layer, spread around the hue circle. */
export function colour(layer: number): string {
  return `hsl(${Math.round((layer * 137.508) % 360)} 60% 50%)`;
}

interface TreeNode {
  name: string;
  path: string;
  size: number;
  /** For a file: its layer; for a directory: the layer holding most of its bytes. */
  layer: number;
  byLayer?: Map<number, number>;
  children?: Map<string, TreeNode>;
}

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

function buildTree(a: ImageAnalysis): TreeNode {
  const root: TreeNode = { name: "/", path: "/", size: 0, layer: 0, byLayer: new Map(), children: new Map() };
  for (const f of a.finalFiles) {
    const parts = f.path.split("/").filter((p) => p !== "");
    let dir = root;
    for (let i = 0; i < parts.length; i++) {
      dir.size += f.sizeBytes;
      dir.byLayer!.set(f.layer, (dir.byLayer!.get(f.layer) ?? 0) + f.sizeBytes);
      const part = parts[i]!;
      if (i === parts.length - 1) {
        dir.children!.set(part, { name: part, path: f.path, size: f.sizeBytes, layer: f.layer });
        break;
      }
      let next = dir.children!.get(part);
      if (next === undefined) dir.children!.set(part, (next = { name: part, path: `${dir.path === "/" ? "" : dir.path}/${part}`, size: 0, layer: 0, byLayer: new Map(), children: new Map() }));
      dir = next;
    }
  }
  const settle = (n: TreeNode): void => {
    if (n.byLayer === undefined) return;
    let best = -1;
    for (const [layer, bytes] of n.byLayer) if (bytes > best) [best, n.layer] = [bytes, layer];
    for (const c of n.children!.values()) settle(c);
  };
  settle(root);
  return root;
}

/** Squarified treemap (Bruls, Huizing, van Wijk): rows laid along the shorter side. */
function squarify(sizes: readonly number[], r: Rect): Rect[] {
  const total = sizes.reduce((s, v) => s + v, 0);
  const out: Rect[] = [];
  if (total <= 0) return sizes.map(() => ({ x: r.x, y: r.y, w: 0, h: 0 }));
  const scale = (r.w * r.h) / total;
  let { x, y, w, h } = r;
  let i = 0;
  const worst = (sum: number, min: number, max: number, side: number): number => {
    const s = sum * scale;
    return Math.max((side * side * max * scale) / (s * s), (s * s) / (side * side * min * scale));
  };
  while (i < sizes.length) {
    const side = Math.min(w, h);
    let j = i;
    let sum = 0;
    let min = Infinity;
    let max = 0;
    let best = Infinity;
    while (j < sizes.length) {
      const v = sizes[j]!;
      const ratio = worst(sum + v, Math.min(min, v), Math.max(max, v), side);
      if (j > i && ratio > best) break;
      best = ratio;
      sum += v;
      min = Math.min(min, v);
      max = Math.max(max, v);
      j++;
    }
    const thickness = (sum * scale) / side;
    let offset = 0;
    for (let k = i; k < j; k++) {
      const len = (sizes[k]! * scale) / thickness;
      out.push(w >= h ? { x, y: y + offset, w: thickness, h: len } : { x: x + offset, y, w: len, h: thickness });
      offset += len;
    }
    if (w >= h) {
      x += thickness;
      w -= thickness;
    } else {
      y += thickness;
      h -= thickness;
    }
    i = j;
  }
  return out;
}

function treemap(a: ImageAnalysis, width: number, height: number): string {
  const root = buildTree(a);
  const parts: string[] = [];
  const layerWhere = (i: number): string => (a.layers[i] !== undefined ? whereOf(a.layers[i]!) : `layer ${i}`);
  const file = (n: TreeNode, r: Rect, what: string): void => {
    parts.push(`<rect class="tm-file" data-layer="${n.layer}" x="${r.x.toFixed(1)}" y="${r.y.toFixed(1)}" width="${Math.max(0, r.w).toFixed(1)}" height="${Math.max(0, r.h).toFixed(1)}" fill="${colour(n.layer)}" stroke="#fff" stroke-width="0.5"><title>${esc(`${n.path}${what} — ${formatBytes(n.size)}, ${layerWhere(n.layer)}`)}</title></rect>`);
  };
  const draw = (n: TreeNode, r: Rect): void => {
    if (n.children === undefined) return file(n, r, "");
    // too small to show its files: one block in the colour of the layer holding most of it
    if (r.w * r.h < 120 || r.w < 6 || r.h < 6) return file(n, r, "/ (mostly)");
    const labelled = r.h > 30 && r.w > 50;
    const inner = { x: r.x + 1, y: r.y + (labelled ? 14 : 1), w: r.w - 2, h: r.h - (labelled ? 15 : 2) };
    if (labelled) parts.push(`<text class="tm-label" x="${(r.x + 3).toFixed(1)}" y="${(r.y + 11).toFixed(1)}" fill="#333" style="fill:#333">${esc(shorten(n.path, Math.max(3, Math.floor(r.w / 6.5))))}</text>`);
    const kids = [...n.children.values()].filter((c) => c.size > 0).sort((x, y) => y.size - x.size);
    const rects = squarify(kids.map((k) => k.size), inner);
    kids.forEach((k, i) => draw(k, rects[i]!));
  };
  if (root.size > 0) draw(root, { x: 0, y: 0, w: width, h: height });
  return `<svg id="treemap" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="treemap of the final file system">${parts.join("")}</svg>`;
}

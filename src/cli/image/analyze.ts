import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import type { ImageRecord } from "../../store/index.js";
import { type CliStore, storeFor } from "../store-port.js";

interface AnalyzeFlags {
  format?: string;
  html?: string;
  ci?: boolean;
  ciConfig?: string;
  lowestEfficiency?: string;
  highestWastedBytes?: string;
  highestUserWastedPercent?: string;
  interactive?: boolean;
}

/**
 * `berth image analyze IMAGE`: per layer its size, files added, changed and removed, its
 * Dockerfile line; wasted bytes, dive's efficiency score, advice tied to lines; `--format json`
 * (dive's export keys), `--html FILE`, `--ci` (dive's rules and exit code), `-i` (dive's two
 * panes in the terminal).
 */
export function addAnalyze(g: Command): void {
  g.command("analyze")
    .description("Show where an image wastes space, which Dockerfile line did it, and how to fix it")
    .argument("<image>")
    .option("-i, --interactive", "explore the layers and the image's file tree as of each layer in the terminal (dive's two panes)")
    .option("--format <format>", "text (default) or json (dive's export keys, and berth's)")
    .option("--html <file>", "also write a self-contained HTML report (layers, treemap, advice) to the file")
    .option("--ci", "check dive's CI rules and exit 1 when one fails")
    .option("--ci-config <file>", "dive's CI rules file (default: .dive-ci in the current directory, when present)")
    .option("--lowest-efficiency <ratio>", "(with --ci) lowest allowed efficiency, 0-1 (dive's default 0.9)")
    .option("--highest-wasted-bytes <bytes>", "(with --ci) highest allowed wasted bytes, e.g. 20MB, or disabled (dive's default)")
    .option("--highest-user-wasted-percent <ratio>", "(with --ci) highest allowed wasted share of the user's bytes, 0-1 (dive's default 0.1)")
    .action(async (name: string, flags: AnalyzeFlags, cmd: Command) => {
      const format = flags.format ?? "text";
      if (format !== "text" && format !== "json") throw new UsageError(`--format: unknown format ${JSON.stringify(format)} (text or json)`);
      const ci = await import("../../analyze/index.js");
      const thresholds = ciThresholds(flags, ci);
      if (flags.interactive === true) {
        if (flags.format !== undefined || thresholds !== undefined) throw new UsageError("--interactive cannot be used with --format or --ci");
        if (process.stdin.isTTY !== true || process.stdout.isTTY !== true) throw new UsageError("--interactive needs a terminal: the input or output device is not a TTY");
      }
      const store: CliStore = await storeFor(cmd);
      const image = await store.resolveImage(name);
      const { analysis, advice, listings } = await analyze(image);
      if (flags.html !== undefined) writeFileSync(flags.html, ci.renderHtml(analysis, advice));
      if (flags.interactive === true) {
        await ci.runInteractive(new ci.AnalyzeView(analysis, listings, ci.terminalColours()), process.stdin, process.stdout);
        return;
      }
      const out = format === "json" ? JSON.stringify(ci.exportAnalysis(analysis, advice, listings), null, 2) + "\n" : ci.renderSummary(analysis, advice);
      process.stdout.write(out);
      if (thresholds !== undefined) {
        const ev = ci.evaluateCi(analysis, thresholds);
        (format === "json" ? process.stderr : process.stdout).write((format === "json" ? "" : "\n") + ci.renderCiReport(analysis, ev));
        if (!ev.pass) process.exitCode = 1;
      }
    });
}

type AnalyzeModule = typeof import("../../analyze/index.js");

/** dive's thresholds: its defaults, then a .dive-ci file's rules, then the flags; checked before any work. */
function ciThresholds(flags: AnalyzeFlags, m: AnalyzeModule): import("../../analyze/index.js").CiThresholds | undefined {
  const ruleFlags = { lowestEfficiency: flags.lowestEfficiency, highestWastedBytes: flags.highestWastedBytes, highestUserWastedPercent: flags.highestUserWastedPercent };
  if (flags.ci !== true) {
    if (flags.ciConfig !== undefined || Object.values(ruleFlags).some((v) => v !== undefined)) throw new UsageError("--ci-config, --lowest-efficiency, --highest-wasted-bytes and --highest-user-wasted-percent need --ci");
    return undefined;
  }
  const file = flags.ciConfig ?? (existsSync(".dive-ci") ? ".dive-ci" : undefined);
  let fromFile = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new UsageError(`--ci-config: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    fromFile = m.parseDiveCi(text, file);
  }
  const t = { ...m.DIVE_CI_DEFAULTS, ...fromFile, ...Object.fromEntries(Object.entries(ruleFlags).filter(([, v]) => v !== undefined)) };
  m.checkThresholds(t);
  return t;
}

type Analyzed = { analysis: import("../../analyze/index.js").ImageAnalysis; advice: import("../../analyze/index.js").Advice[]; listings: import("../../analyze/index.js").LayerListing[] };

/** The analysis of a stored image, its advice, and its layers' listings. */
export async function analyze(image: ImageRecord): Promise<Analyzed> {
  const { analyzeImage, adviseImage, listLayer } = await import("../../analyze/index.js");
  const listings = image.layers.map(listLayer);
  const analysis = analyzeImage(image, listings);
  return { analysis, advice: adviseImage(analysis), listings };
}

/** What `berth build --analyze` prints after the build. */
export async function printAnalysis(image: ImageRecord, out: NodeJS.WritableStream): Promise<void> {
  const { renderSummary } = await import("../../analyze/index.js");
  const { analysis, advice } = await analyze(image);
  out.write(renderSummary(analysis, advice));
}

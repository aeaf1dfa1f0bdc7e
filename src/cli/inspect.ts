import type { Command } from "commander";
import { UsageError } from "../errors.js";
import type { Platform } from "../image/types.js";
import { parseTemplate, TemplateParseError, type Template } from "./template.js";

/**
 * `berth inspect NAME...`: Docker tries each object type in turn; every module that owns a
 * kind of object registers a target here (images now; the runtime adds containers, tried
 * first as Docker does, with a lower `order`).
 */
export interface InspectTarget {
  type: string;
  order: number;
  /** The object's JSON as Docker prints it, or undefined when `name` is not of this type (`platform`: `image inspect --platform`). */
  find(name: string, root: string | undefined, platform?: Platform): Promise<unknown | undefined>;
}

const targets: InspectTarget[] = [];

export function registerInspectTarget(t: InspectTarget): void {
  const i = targets.findIndex((x) => x.type === t.type);
  if (i >= 0) targets.splice(i, 1);
  targets.push(t);
  targets.sort((a, b) => a.order - b.order);
}

export function inspectTargets(): readonly InspectTarget[] {
  return targets;
}

export async function inspectObjects(names: string[], opts: { type?: string; root?: string; platform?: Platform }): Promise<{ found: unknown[]; missing: string[] }> {
  const pool = opts.type ? targets.filter((t) => t.type === opts.type) : targets;
  if (opts.type && pool.length === 0) throw new UsageError(`"${opts.type}" is not a valid value for --type`);
  const found: unknown[] = [];
  const missing: string[] = [];
  for (const name of names) {
    let hit: unknown;
    for (const t of pool) {
      hit = await t.find(name, opts.root, opts.platform);
      if (hit !== undefined) break;
    }
    if (hit === undefined) missing.push(name);
    else found.push(hit);
  }
  return { found, missing };
}

export function printInspect(found: unknown[], format: string | undefined): void {
  if (format === undefined || format === "" || format === "json") {
    process.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  } else {
    let template: Template;
    try {
      template = parseTemplate(format);
    } catch (err) {
      // docker/cli's inspect: a template it cannot parse is a usage error, status 64
      throw err instanceof TemplateParseError ? new TemplateParseError(err.detail, { exitCode: 64 }) : err;
    }
    let failed: unknown;
    for (const f of found) {
      try {
        process.stdout.write(`${template.execute(f)}\n`);
      } catch (err) {
        failed ??= err;
      }
    }
    if (failed !== undefined) throw failed;
  }
}

export function registerInspectCommand(program: Command): void {
  program
    .command("inspect")
    .description("Return low-level information on berth objects")
    .argument("<name...>", "image (or container) names or IDs")
    .option("-f, --format <format>", "format the output using a Go-like template, or json")
    .option("--type <type>", "only objects of this type (image, container)")
    .action(async (names: string[], opts: { format?: string; type?: string }, cmd: Command) => {
      const { found, missing } = await inspectObjects(names, { ...(opts.type ? { type: opts.type } : {}), root: cmd.optsWithGlobals<{ root?: string }>().root });
      try {
        printInspect(found, opts.format);
      } finally {
        for (const m of missing) process.stderr.write(`Error: No such object: ${m}\n`);
        if (missing.length > 0) process.exitCode = 1;
      }
    });
}

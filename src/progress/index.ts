/** Build progress: events → renderers (tty like BuildKit's, plain with prefixed lines, json). */
import type { BuildEvent } from "../builder/events.js";
import { JsonRenderer } from "./json.js";
import { PlainRenderer } from "./plain.js";
import { TtyRenderer } from "./tty.js";

export interface Renderer {
  handle(e: BuildEvent): void;
  finish(): void;
}

export type ProgressMode = "auto" | "tty" | "plain" | "json" | "quiet";

export function createRenderer(mode: ProgressMode, out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }, options: { explain?: boolean } = {}): Renderer {
  const m = mode === "auto" ? (out.isTTY === true ? "tty" : "plain") : mode;
  switch (m) {
    case "tty":
      return new TtyRenderer(out, options.explain ?? false);
    case "json":
      return new JsonRenderer(out);
    case "quiet":
      return { handle: () => undefined, finish: () => undefined };
    default:
      return new PlainRenderer(out, options.explain ?? true);
  }
}

export { JsonRenderer, PlainRenderer, TtyRenderer };

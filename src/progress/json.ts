import type { BuildEvent } from "../builder/events.js";

/** One JSON object per event and line, for tools. */
export class JsonRenderer {
  constructor(private readonly out: NodeJS.WritableStream) {}
  handle(e: BuildEvent): void {
    this.out.write(JSON.stringify(e) + "\n");
  }
  finish(): void {}
}

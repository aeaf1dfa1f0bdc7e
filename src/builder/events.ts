/** What a build reports while it runs; `src/progress/` renders these. */
export type BuildEvent =
  | { type: "step"; id: number; name: string; time: number }
  | { type: "cached"; id: number; time: number }
  | { type: "log"; id: number; stream: "stdout" | "stderr"; data: string; time: number }
  | { type: "explain"; id: number; reasons: string[]; time: number }
  | { type: "done"; id: number; time: number }
  | { type: "error"; id: number; message: string; time: number }
  | { type: "warning"; message: string; time: number }
  | { type: "info"; message: string; time: number };

export type BuildEventSink = (e: BuildEvent) => void;

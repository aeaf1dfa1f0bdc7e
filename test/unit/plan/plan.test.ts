import { describe, expect, it } from "vitest";
import { parse } from "../../../src/parser/index.js";
import { parseMountSpec } from "../../../src/instructions/index.js";
import { onbuildSteps, planBuild, unusedBuildArgsWarning, type PlanOptions } from "../../../src/plan/index.js";

function plan(text: string, options: PlanOptions = {}) {
  return planBuild(parse(text, { file: "Dockerfile" }), text, { environment: {}, ...options });
}

describe("planBuild: stages, bases, dependencies, target pruning", () => {
  const cases: { name: string; df: string; opts?: PlanOptions; bases: string[]; deps: number[][]; order: number[]; target?: number }[] = [
    { name: "one stage from an image", df: "FROM busybox\nRUN true\n", bases: ["image:busybox"], deps: [[]], order: [0] },
    { name: "scratch", df: "FROM scratch\nCOPY a /\n", bases: ["scratch"], deps: [[]], order: [0] },
    { name: "FROM a named stage (case-insensitive)", df: "FROM busybox AS Base\nFROM base\n", bases: ["image:busybox", "stage:0"], deps: [[], [0]], order: [0, 1] },
    { name: "COPY --from name and index", df: "FROM busybox AS a\nFROM busybox AS b\nFROM busybox\nCOPY --from=a /x /\nCOPY --from=1 /y /\n", bases: ["image:busybox", "image:busybox", "image:busybox"], deps: [[], [], [0, 1]], order: [0, 1, 2] },
    { name: "COPY --from image is not a stage", df: "FROM busybox\nCOPY --from=alpine:3 /x /\n", bases: ["image:busybox"], deps: [[]], order: [0] },
    { name: "RUN --mount from= a stage", df: "FROM busybox AS tools\nFROM busybox\nRUN --mount=type=bind,from=tools,target=/t true\n", bases: ["image:busybox", "image:busybox"], deps: [[], [0]], order: [0, 1] },
    { name: "RUN --mount=type=cache from= a stage", df: "FROM busybox AS seed\nFROM busybox AS unused\nFROM busybox\nRUN --mount=type=cache,from=seed,source=/d,target=/c true\n", bases: ["image:busybox", "image:busybox", "image:busybox"], deps: [[], [], [0]], order: [0, 2] },
    { name: "--target prunes later and unrelated stages", df: "FROM busybox AS a\nFROM busybox AS b\nFROM a AS c\nFROM b\n", opts: { target: "c" }, bases: ["image:busybox", "image:busybox", "stage:0", "stage:1"], deps: [[], [], [0], [1]], order: [0, 2], target: 2 },
    { name: "global ARG in FROM with default", df: "ARG BASE=busybox\nFROM ${BASE}\n", bases: ["image:busybox"], deps: [[]], order: [0] },
    { name: "global ARG in FROM from --build-arg (undeclared TAG stays unset)", df: "ARG BASE=busybox\nFROM $BASE:${TAG:-1}\n", opts: { buildArgs: ["BASE=alpine", "TAG=3"] }, bases: ["image:alpine:1"], deps: [[]], order: [0] },
    { name: "--build-arg K from the environment", df: "ARG V\nFROM busybox:$V\n", opts: { buildArgs: ["V"], environment: { V: "9" } }, bases: ["image:busybox:9"], deps: [[]], order: [0] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = plan(c.df, c.opts);
      expect(p.stages.map((s) => (s.base.kind === "scratch" ? "scratch" : s.base.kind === "stage" ? `stage:${s.base.index}` : `image:${s.base.ref}`))).toEqual(c.bases);
      expect(p.stages.map((s) => s.dependsOn)).toEqual(c.deps);
      expect(p.order).toEqual(c.order);
      expect(p.target).toBe(c.target ?? p.stages.length - 1);
    });
  }
});

describe("planBuild: build args", () => {
  const cases: { name: string; df: string; args: string[]; unused: string[] }[] = [
    { name: "declared in a stage", df: "FROM busybox\nARG A\n", args: ["A=1"], unused: [] },
    { name: "declared globally", df: "ARG A\nFROM busybox\n", args: ["A=1"], unused: [] },
    { name: "not declared", df: "FROM busybox\n", args: ["A=1", "B=2"], unused: ["A", "B"] },
    { name: "proxy args need no ARG", df: "FROM busybox\n", args: ["HTTP_PROXY=http://p", "no_proxy=x"], unused: [] },
    { name: "declared only in a pruned stage", df: "FROM busybox AS a\nARG A\nFROM busybox AS b\n", args: ["A=1"], unused: ["A"] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = plan(c.df, { buildArgs: c.args });
      expect(p.unusedBuildArgs).toEqual(c.unused);
    });
  }
  it("words Docker's warning", () => {
    expect(unusedBuildArgsWarning(["X", "Y"])).toBe("[Warning] One or more build-args [X Y] were not consumed");
    expect(unusedBuildArgsWarning([])).toBeUndefined();
  });
  it("global ARG defaults see earlier global ARGs and platform args", () => {
    const p = plan("ARG A=x\nARG B=${A}y-$TARGETARCH\nFROM busybox\n");
    expect(p.globalArgs.get("B")).toBe("xy-amd64");
  });
});

describe("planBuild: errors point at the line", () => {
  const cases: { df: string; opts?: PlanOptions; message: RegExp }[] = [
    { df: "RUN true\n", message: /Dockerfile:1:1: no build stage/ },
    { df: "FROM busybox\nFROM busybox AS x\nFROM busybox AS X\n", message: /Dockerfile:3:1: duplicate stage name "x"/ },
    { df: "FROM busybox\n", opts: { target: "nope" }, message: /failed to reach build target nope/ },
    { df: "ARG B\nFROM $B\n", message: /Dockerfile:2:1: base name \(\$B\) should not be blank/ },
    { df: "FROM busybox\nCOPY --from=0 /a /\n", message: /Dockerfile:2:1: invalid --from 0/ },
    { df: "ARG S=a\nFROM busybox AS a\nFROM busybox\nCOPY --from=$S /a /\n", message: /Dockerfile:4:1: variable expansion is not supported for --from/ },
    { df: "FROM busybox\nRUN --mount=type=nope,target=/x true\n", message: /Dockerfile:2:5: invalid --mount: unsupported mount type/ },
    { df: "FROM busybox\nCOPY --nope=1 a /\n", message: /Dockerfile:2:6: .*--nope/ },
  ];
  for (const c of cases) it(c.df.replace(/\n/g, "⏎"), () => expect(() => plan(c.df, c.opts)).toThrow(c.message));
});

describe("--mount specs as the builder reads them (parseMountSpec)", () => {
  const range = { start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } };
  const parseRunMount = (spec: string) => parseMountSpec(spec, range);
  const cases: { spec: string; want: Record<string, unknown> }[] = [
    { spec: "type=cache,target=/root/.cache", want: { type: "cache", target: "/root/.cache", id: "/root/.cache", readOnly: false, sharing: "shared", mode: undefined } },
    { spec: "type=cache,target=/c,id=x,sharing=locked,uid=1000,gid=1000,mode=0700", want: { id: "x", sharing: "locked", uid: 1000, gid: 1000, mode: 0o700 } },
    { spec: "target=/src", want: { type: "bind", readOnly: true } },
    { spec: "type=bind,source=a,target=/a,rw", want: { source: "a", readOnly: false } },
    { spec: "type=secret,id=tok", want: { target: "/run/secrets/tok", mode: 0o400, required: false } },
    { spec: "type=secret,id=tok,env=TOKEN,required", want: { env: "TOKEN", required: true, target: undefined } },
    { spec: "type=tmpfs,target=/t,size=1000", want: { type: "tmpfs", size: 1000 } },
  ];
  for (const c of cases) it(c.spec, () => expect(parseRunMount(c.spec)).toMatchObject(c.want));
  it("rejects unknown keys", () => expect(() => parseRunMount("type=cache,target=/c,nope=1")).toThrow(/unexpected key 'nope'/));
});

describe("onbuildSteps", () => {
  it("parses each trigger", () => {
    expect(onbuildSteps(["RUN echo hi", "COPY a /b"]).map((n) => n.kind)).toEqual(["run", "copy"]);
    expect(onbuildSteps(null)).toEqual([]);
  });
  it("validates each trigger, naming it", () => {
    expect(() => onbuildSteps(["RUN --nope=1 true"], "base ONBUILD")).toThrow(/base ONBUILD:1:5: unknown flag --nope for RUN/);
  });
});

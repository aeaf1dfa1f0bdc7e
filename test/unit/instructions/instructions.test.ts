import { describe, expect, it } from "vitest";
import { parseInstructions, type Instruction } from "../../../src/instructions/index.js";
import { DockerfileSyntaxError } from "../../../src/parser/index.js";

const one = (text: string): Instruction => {
  const { instructions } = parseInstructions(`FROM scratch\n${text}`);
  return instructions[1]!;
};

describe("typed instructions", () => {
  it("FROM with platform and stage name", () => {
    const from = parseInstructions("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build\n").instructions[0]!;
    expect(from).toMatchObject({ kind: "from", image: { raw: "golang:1.22", expand: true }, stageName: "build", platform: { raw: "$BUILDPLATFORM" } });
  });

  it("RUN shell and exec form, mounts, network, security", () => {
    const run = one("RUN --mount=type=cache,target=/root/.cache,sharing=locked --mount=type=secret,id=npmrc --network=none --security=insecure npm ci\n");
    expect(run.kind).toBe("run");
    if (run.kind !== "run") return;
    expect(run.command).toMatchObject({ form: "shell", command: "npm ci" });
    expect(run.network).toBe("none");
    expect(run.security).toBe("insecure");
    expect(run.mounts[0]).toMatchObject({ type: "cache", target: "/root/.cache", id: "/root/.cache", sharing: "locked", readOnly: false });
    expect(run.mounts[1]).toMatchObject({ type: "secret", id: "npmrc", target: "/run/secrets/npmrc", mode: 0o400, required: false });
    const exec = one('RUN ["echo", "hi"]\n');
    expect(exec.kind === "run" && exec.command).toMatchObject({ form: "exec", args: ["echo", "hi"] });
  });

  it("mount types and defaults", () => {
    const run = one("RUN --mount=target=/src,from=build,rw --mount=type=tmpfs,dst=/tmp,size=64m --mount=type=ssh,required echo\n");
    if (run.kind !== "run") throw new Error("not run");
    expect(run.mounts.map((m) => m.type)).toEqual(["bind", "tmpfs", "ssh"]);
    expect(run.mounts[0]).toMatchObject({ target: "/src", from: "build", readOnly: false });
    expect(run.mounts[1]).toMatchObject({ size: 64 * 1024 * 1024 });
    expect(run.mounts[2]).toMatchObject({ id: "default", required: true, mode: 0o600 });
  });

  it("RUN heredoc with <<- has its tabs stripped", () => {
    const run = one("RUN <<-EOF\n\techo a\n\t\techo b\n\tEOF\n");
    expect(run.kind === "run" && run.heredocs[0]).toMatchObject({ name: "EOF", content: "echo a\necho b\n", chomp: true });
  });

  it("COPY with every flag", () => {
    const copy = one("COPY --from=build --chown=app:app --chmod=0755 --link --parents --exclude=*.md --exclude=.git a b /dst/\n");
    expect(copy).toMatchObject({
      kind: "copy",
      from: { raw: "build" },
      chown: { raw: "app:app" },
      chmod: { raw: "0755" },
      link: true,
      parents: true,
      exclude: [{ raw: "*.md" }, { raw: ".git" }],
      sources: [{ raw: "a" }, { raw: "b" }],
      destination: { raw: "/dst/" },
    });
  });

  it("ADD flags and heredoc sources", () => {
    const add = one("ADD --checksum=sha256:abc --keep-git-dir=true --chmod=u+x,go-w --unpack=false https://x/y.tgz /opt/\n");
    expect(add).toMatchObject({ kind: "add", checksum: { raw: "sha256:abc" }, keepGitDir: true, unpack: false, chmod: { raw: "u+x,go-w" } });
    const inline = one("COPY <<EOF /etc/motd\nhello\nEOF\n");
    expect(inline).toMatchObject({ kind: "copy", sources: [{ raw: "<<EOF" }], heredocs: [{ name: "EOF", content: "hello\n" }] });
  });

  it("ENV and LABEL pairs keep quotes for expansion; legacy form is marked", () => {
    const env = one('ENV A=1 B="two words"\n');
    expect(env.kind === "env" && env.vars.map((v) => [v.key.raw, v.value.raw, v.legacy])).toEqual([
      ["A", "1", false],
      ["B", '"two words"', false],
    ]);
    const legacy = one("ENV PATH /usr/local/bin:$PATH\n");
    expect(legacy.kind === "env" && legacy.vars[0]).toMatchObject({ key: { raw: "PATH" }, value: { raw: "/usr/local/bin:$PATH" }, legacy: true });
    const label = one('LABEL org.opencontainers.image.title="berth"\n');
    expect(label.kind === "label" && label.labels[0]!.value.raw).toBe('"berth"');
  });

  it("ARG declarations with and without defaults", () => {
    const arg = one('ARG A B=2 C="x y"\n');
    expect(arg.kind === "arg" && arg.args.map((a) => [a.name.raw, a.defaultValue?.raw])).toEqual([
      ["A", undefined],
      ["B", "2"],
      ["C", '"x y"'],
    ]);
    if (arg.kind === "arg") expect(arg.args[1]!.defaultValue!.range.start.column).toBe(9);
  });

  it("HEALTHCHECK NONE and CMD with durations in nanoseconds", () => {
    expect(one("HEALTHCHECK NONE\n")).toMatchObject({ kind: "healthcheck", disable: true, command: undefined });
    const hc = one("HEALTHCHECK --interval=1m30s --timeout=3s --start-period=500ms --retries=3 CMD curl -f http://localhost/\n");
    expect(hc).toMatchObject({
      kind: "healthcheck",
      disable: false,
      interval: 90e9,
      timeout: 3e9,
      startPeriod: 500e6,
      retries: 3,
      command: { form: "shell", command: "curl -f http://localhost/" },
    });
    const exec = one('HEALTHCHECK CMD ["/bin/check", "--quiet"]\n');
    expect(exec.kind === "healthcheck" && exec.command).toMatchObject({ form: "exec", args: ["/bin/check", "--quiet"] });
  });

  it("ONBUILD carries a typed trigger and its expression", () => {
    const ob = one("ONBUILD COPY --chown=1:1 . /app\n");
    expect(ob).toMatchObject({ kind: "onbuild", expression: "COPY --chown=1:1 . /app", trigger: { kind: "copy", chown: { raw: "1:1" } } });
  });

  it("the remaining instructions", () => {
    const { instructions } = parseInstructions(
      'FROM x\nCMD ["a"]\nENTRYPOINT exec app\nSHELL ["/bin/bash", "-c"]\nEXPOSE 80 53/udp 8000-8010/tcp\nVOLUME /data ["x"]\nUSER app:app\nWORKDIR /app\nSTOPSIGNAL SIGINT\nMAINTAINER me\n',
    );
    expect(instructions.map((i) => i.kind)).toEqual(["from", "cmd", "entrypoint", "shell", "expose", "volume", "user", "workdir", "stopsignal", "maintainer"]);
    expect(instructions[3]).toMatchObject({ shell: ["/bin/bash", "-c"] });
    expect(instructions[4]).toMatchObject({ ports: [{ raw: "80" }, { raw: "53/udp" }, { raw: "8000-8010/tcp" }] });
  });
});

// input → the one-line error (file:line:column: message)
const errors: [string, string][] = [
  ["RUNN echo", "Dockerfile:2:1: unknown instruction: RUNN (did you mean RUN?)"],
  ["COPYY a b", "Dockerfile:2:1: unknown instruction: COPYY (did you mean COPY?)"],
  ["FOO bar", "Dockerfile:2:1: unknown instruction: FOO"],
  ["COPY --chwon=1 a b", "Dockerfile:2:6: unknown flag --chwon for COPY (did you mean --chown?)"],
  ["ENV --x=1 a=b", "Dockerfile:2:5: unknown flag --x for ENV (ENV takes no flags)"],
  ["COPY --checksum=sha256:x a b", "Dockerfile:2:6: unknown flag --checksum for COPY (--checksum is a flag of ADD)"],
  ["ADD --from=build a b", "Dockerfile:2:5: unknown flag --from for ADD (--from is a flag of COPY)"],
  ["COPY --chmod=abc a b", 'Dockerfile:2:6: invalid --chmod value "abc" (use octal like 0755 or symbolic like u+x)'],
  ["RUN --network=bogus true", 'Dockerfile:2:5: network mode "bogus" not supported (use default, none or host)'],
  ["RUN --security=root true", 'Dockerfile:2:5: security mode "root" not supported (use sandbox or insecure)'],
  ["RUN --mount=type=nfs,target=/x true", 'Dockerfile:2:5: invalid --mount: unsupported mount type "nfs" (use bind, cache, tmpfs, secret or ssh)'],
  ["RUN --mount=type=cache true", "Dockerfile:2:5: invalid --mount: --mount=type=cache requires a target (target=/path)"],
  ["RUN --mount=type=cache,target=/x,sharing=some true", 'Dockerfile:2:5: invalid --mount: unsupported sharing value "some" (use shared, private or locked)'],
  ["RUN --mount=type=cache,target=/x,mode=999 true", "Dockerfile:2:5: invalid --mount: invalid value for mode: 999"],
  ["RUN --mount=type=bind,target=/x,colour=red true", "Dockerfile:2:5: invalid --mount: unexpected key 'colour' in 'colour=red'"],
  ["COPY --link=maybe a b", "Dockerfile:2:6: expecting boolean value for flag --link, not: maybe"],
  ["COPY --from a b", "Dockerfile:2:6: missing a value on flag: --from"],
  ["COPY --from=a --from=b x y", "Dockerfile:2:15: duplicate flag specified: --from"],
  ["COPY onlyone", "Dockerfile:2:1: COPY requires at least two arguments, but only one was provided. Destination could not be determined"],
  ["ADD", "Dockerfile:2:1: ADD requires at least two arguments, but only none was provided. Destination could not be determined"],
  ["FROM a b", "Dockerfile:2:8: FROM requires either one or three arguments (FROM image [AS name])"],
  ["FROM a IS b", "Dockerfile:2:8: second argument should be AS, not IS"],
  ["FROM a AS 1stage", 'Dockerfile:2:11: invalid name for build stage: "1stage", name can\'t start with a number or contain symbols'],
  ["WORKDIR", "Dockerfile:2:1: WORKDIR requires exactly one argument"],
  ["ENV", "Dockerfile:2:1: ENV requires at least one argument"],
  ["VOLUME [\"\"]", "Dockerfile:2:9: VOLUME specified can not be an empty string"],
  ["SHELL /bin/sh -c", 'Dockerfile:2:7: SHELL requires the arguments to be in JSON form, e.g. SHELL ["/bin/bash", "-c"]'],
  ["ONBUILD ONBUILD RUN x", "Dockerfile:2:9: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"],
  ["ONBUILD FROM x", "Dockerfile:2:9: FROM isn't allowed as an ONBUILD trigger"],
  ["ONBUILD MAINTAINER me", "Dockerfile:2:9: MAINTAINER isn't allowed as an ONBUILD trigger"],
  ["ONBUILD RUNN x", "Dockerfile:2:9: unknown instruction: RUNN (did you mean RUN?)"],
  ["HEALTHCHECK NONE x", "Dockerfile:2:18: HEALTHCHECK NONE takes no arguments"],
  ["HEALTHCHECK PING x", 'Dockerfile:2:13: unknown type "PING" in HEALTHCHECK (try CMD)'],
  ["HEALTHCHECK CMD", "Dockerfile:2:13: missing command after HEALTHCHECK CMD"],
  ["HEALTHCHECK --interval=5 CMD x", "Dockerfile:2:13: invalid duration for --interval: 5 (e.g. 30s, 1m30s)"],
  ["HEALTHCHECK --timeout=10us CMD x", 'Dockerfile:2:13: --timeout "10us" cannot be less than 1ms'],
  ["HEALTHCHECK --retries=-1 CMD x", "Dockerfile:2:13: --retries cannot be negative (-1)"],
  ["EXPOSE 80/xyz", "Dockerfile:2:8: invalid port: 80/xyz (use PORT[/tcp|/udp|/sctp] or START-END)"],
  ["STOPSIGNAL SIGFOO", "Dockerfile:2:12: invalid signal: SIGFOO"],
  ["ARG =x", "Dockerfile:2:5: ARG names can not be blank"],
];

describe("instruction errors", () => {
  for (const [line, message] of errors) {
    it(line, () => {
      let caught: unknown;
      try {
        parseInstructions(`FROM scratch\n${line}\n`);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(DockerfileSyntaxError);
      expect((caught as DockerfileSyntaxError).message).toBe(message);
    });
  }

  it("renders a code frame with a caret under the column", () => {
    try {
      parseInstructions("FROM scratch\nCOPY --chmod=abc a b\n", { file: "ctx/Dockerfile" });
      expect.unreachable();
    } catch (err) {
      expect((err as DockerfileSyntaxError).render()).toBe(
        'ctx/Dockerfile:2:6: invalid --chmod value "abc" (use octal like 0755 or symbolic like u+x)\n 2 | COPY --chmod=abc a b\n   |      ^',
      );
    }
  });

  it("values with variables are checked later, after expansion", () => {
    expect(() => parseInstructions("FROM x\nCOPY --chmod=$MODE a b\nRUN --network=$NET true\nEXPOSE $PORT\nSTOPSIGNAL $SIG\n")).not.toThrow();
  });
});

describe("--chmod values", () => {
  const cases: [string, boolean][] = [
    ["0755", true], ["755", true], ["00644", true], ["4755", true], ["u+x", true], ["u=rwx,g=rx,o=", true], ["a-w", true], ["g+s", true],
    ["abc", false], ["0899", false], ["77777", false], ["u+q", false], ["", false],
  ];
  for (const [mode, valid] of cases) {
    it(`${JSON.stringify(mode)} is ${valid ? "accepted" : "rejected"}`, () => {
      const run = (): unknown => parseInstructions(`FROM x\nCOPY --chmod=${mode} a b\n`);
      if (valid) expect(run).not.toThrow();
      else expect(run).toThrow(DockerfileSyntaxError);
    });
  }
});

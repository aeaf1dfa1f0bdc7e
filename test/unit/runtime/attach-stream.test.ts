import { describe, expect, it } from "vitest";
import { DetachDetector, encodeFrame, Frame, FrameReader, parseDetachKeys, resizeFrame } from "../../../src/runtime/container/attach-stream.js";

describe("detach keys (Docker's syntax, moby/term ToBytes)", () => {
  it.each([
    ["", [16, 17]],
    ["ctrl-p,ctrl-q", [16, 17]],
    ["ctrl-a,d", [1, 100]],
    ["ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", [0, 27, 28, 29, 30, 31]],
    ["e,x,i,t,@,@", [101, 120, 105, 116, 64, 64]],
    ["DEL", [127]],
  ])("%j → %j", (keys, bytes) => {
    expect([...parseDetachKeys(keys)]).toEqual(bytes);
  });

  it.each([
    ["ctrl-foo", "invalid detach keys (ctrl-foo): Unknown character: 'ctrl-foo'"],
    ["ctrl-P", "invalid detach keys (ctrl-P): Unknown character: 'ctrl-P'"],
    ["a,,b", "invalid detach keys (a,,b): Unknown character: ''"],
    ["ab", "invalid detach keys (ab): Unknown character: 'ab'"],
  ])("refuses %j", (keys, message) => {
    expect(() => parseDetachKeys(keys)).toThrow(message);
  });
});

describe("DetachDetector", () => {
  const keys = Buffer.from([16, 17]);

  it("passes input through and detaches on the sequence, keeping what came before it", () => {
    const d = new DetachDetector(keys);
    expect(d.feed(Buffer.from("ls\n"))).toEqual({ data: Buffer.from("ls\n"), detach: false });
    expect(d.feed(Buffer.from("ab\x10\x11cd"))).toEqual({ data: Buffer.from("ab"), detach: true });
  });

  it("holds a sequence's start across reads, and lets it through when the sequence breaks off", () => {
    const d = new DetachDetector(keys);
    expect(d.feed(Buffer.from("x\x10"))).toEqual({ data: Buffer.from("x"), detach: false });
    expect(d.feed(Buffer.from("y"))).toEqual({ data: Buffer.from("\x10y"), detach: false });
    expect(d.feed(Buffer.from("\x10"))).toEqual({ data: Buffer.alloc(0), detach: false });
    expect(d.feed(Buffer.from("\x11"))).toEqual({ data: Buffer.alloc(0), detach: true });
  });
});

describe("attach frames", () => {
  it("survive any chunking", () => {
    const stream = Buffer.concat([encodeFrame(Frame.Stdout, Buffer.from("hello")), resizeFrame(40, 100), encodeFrame(Frame.StdinEnd)]);
    const seen: Array<[Frame, string]> = [];
    const reader = new FrameReader((type, payload) => seen.push([type, payload.toString("hex")]));
    for (let i = 0; i < stream.length; i += 3) reader.push(stream.subarray(i, i + 3));
    expect(seen).toEqual([
      [Frame.Stdout, Buffer.from("hello").toString("hex")],
      [Frame.Resize, "00280064"],
      [Frame.StdinEnd, ""],
    ]);
  });
});

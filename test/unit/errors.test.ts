import { describe, expect, it } from "vitest";
import { BerthError, UsageError } from "../../src/errors.js";

describe("BerthError", () => {
  it("carries an exit code; usage errors use Docker's 125", () => {
    expect(new BerthError("x").exitCode).toBe(1);
    expect(new UsageError("bad flag").exitCode).toBe(125);
    expect(new UsageError("bad flag").name).toBe("UsageError");
  });
});

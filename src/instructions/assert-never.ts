/**
 * The default of an exhaustive `switch (ins.kind)`: the compiler rejects the call while a kind
 * is unhandled; at run time it names the kind that slipped through.
 */
export function assertNever(ins: never): never {
  throw new Error(`unhandled instruction: ${(ins as { kind?: unknown }).kind as string}`);
}

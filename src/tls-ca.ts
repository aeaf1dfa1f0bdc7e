import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/**
 * What NODE_EXTRA_CA_CERTS does, done late. Node 20 parses that file and its whole bundled root
 * store at start-up, though most commands never open a TLS connection: bin/berth
 * hides the variable from Node and leaves the file's path in `__berthDeferredExtraCa`. berth's
 * TLS users (the registry transport, ADD of an https URL) call this before connecting: from
 * then on, a TLS context made without its own `ca` (https agents, fetch) trusts Node's bundled
 * roots plus the file's certificates. A file that cannot be read is ignored with Node's own
 * warning. Without bin/berth (the library, `node dist/...`) Node applied the variable itself.
 */
let applied = false;

export function applyDeferredExtraCa(): void {
  const file = (globalThis as { __berthDeferredExtraCa?: string }).__berthDeferredExtraCa;
  if (applied || file === undefined || file === "") return;
  applied = true;
  const tls = createRequire(import.meta.url)("node:tls") as typeof import("node:tls");
  const original = tls.createSecureContext;
  let ca: string[] | null | undefined;
  tls.createSecureContext = function createSecureContext(this: unknown, options?: import("node:tls").SecureContextOptions) {
    if (options?.ca !== undefined) return original.call(this, options);
    if (ca === undefined) {
      try {
        ca = [...tls.rootCertificates, readFileSync(file, "utf8")];
      } catch (err) {
        process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
        ca = null;
      }
    }
    return original.call(this, ca === null ? options : { ...options, ca });
  };
}

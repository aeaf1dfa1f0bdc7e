import { parseChallenges, type AuthChallenge } from "./challenge.js";
import type { CredentialLookup, Credentials } from "./credentials.js";
import { RegistryError, kindForStatus } from "./errors.js";
import { HttpTransport, discard, header, isTransientNetworkError, isTransientStatus, readBody, type HttpResponse } from "./http.js";
import { DEFAULT_RETRY, backoffDelay, wait, type RetryPolicy } from "./retry.js";

/** `repository:<name>:<actions>`, the scope a bearer token is asked for. */
export function repositoryScope(repository: string, actions: ("pull" | "push")[]): string {
  return `repository:${repository}:${actions.join(",")}`;
}

interface CachedToken {
  value: string;
  /** ms since epoch after which the token is not used again. */
  expiresAt: number;
}

/**
 * Authorization for registry requests: none, Basic, or the bearer-token flow. A registry's
 * scheme is learnt from its `WWW-Authenticate` challenge (the `/v2/` ping or any 401); bearer
 * tokens are fetched from the challenge's realm per set of scopes and cached until they expire.
 */
export class RegistryAuth {
  private readonly challenges = new Map<string, AuthChallenge | null>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly credentialCache = new Map<string, Promise<Credentials | undefined>>();

  constructor(
    private readonly transport: HttpTransport,
    private readonly lookup: CredentialLookup,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {}

  /** Records the challenge a registry answered with (undefined header: it needs no auth). */
  learnChallenge(registry: string, wwwAuthenticate: string | undefined): AuthChallenge | null {
    const challenges = wwwAuthenticate === undefined ? [] : parseChallenges(wwwAuthenticate);
    const chosen = challenges.find((c) => c.scheme === "bearer") ?? challenges[0] ?? null;
    this.challenges.set(registry, chosen);
    return chosen;
  }

  credentials(registry: string): Promise<Credentials | undefined> {
    let p = this.credentialCache.get(registry);
    if (p === undefined) {
      p = this.lookup(registry);
      this.credentialCache.set(registry, p);
    }
    return p;
  }

  /** Forgets a token that the registry refused, so that the next call fetches a fresh one. */
  invalidate(registry: string, scopes: string[]): void {
    this.tokens.delete(tokenKey(registry, scopes));
  }

  /**
   * The Authorization header value for a request needing `scopes`, or undefined for
   * anonymous access. `reference` names what is being accessed, for error messages.
   */
  async authorization(registry: string, scopes: string[], reference: string): Promise<string | undefined> {
    const challenge = this.challenges.get(registry);
    if (challenge === undefined || challenge === null) return undefined;
    const creds = await this.credentials(registry);
    if (challenge.scheme === "basic") {
      if (creds?.username === undefined) return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ""}`).toString("base64")}`;
    }
    const key = tokenKey(registry, scopes);
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.expiresAt > Date.now()) return `Bearer ${cached.value}`;
    const token = await this.fetchToken(registry, challenge, scopes, creds, reference);
    this.tokens.set(key, token);
    return `Bearer ${token.value}`;
  }

  /**
   * Checks credentials for `berth login`: a Basic registry is asked for `/v2/` with them
   * (done by the caller); a bearer registry's token endpoint must accept them.
   */
  async verifyLogin(registry: string, creds: Credentials): Promise<void> {
    const challenge = this.challenges.get(registry);
    if (challenge?.scheme !== "bearer") return;
    await this.fetchToken(registry, challenge, [], creds, registry);
  }

  private async fetchToken(
    registry: string,
    challenge: AuthChallenge,
    scopes: string[],
    creds: Credentials | undefined,
    reference: string,
  ): Promise<CachedToken> {
    const realm = challenge.params.realm;
    if (realm === undefined || realm === "") {
      throw new RegistryError("protocol", reference, "registry sent a bearer challenge without a realm");
    }
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError("protocol", reference, `registry sent an invalid token realm ${JSON.stringify(realm)}`);
    }
    const service = challenge.params.service;
    const res = await this.sendWithRetry(() => {
      if (creds?.identityToken !== undefined) {
        // OAuth2 refresh-token grant, what Docker does for identity tokens.
        const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: creds.identityToken, client_id: "berth" });
        if (service !== undefined) form.set("service", service);
        if (scopes.length > 0) form.set("scope", scopes.join(" "));
        return this.transport.send({
          method: "POST",
          url,
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: Buffer.from(form.toString()),
        });
      }
      const u = new URL(url);
      if (service !== undefined) u.searchParams.set("service", service);
      for (const s of scopes) u.searchParams.append("scope", s);
      const headers: Record<string, string> = {};
      if (creds?.username !== undefined) {
        u.searchParams.set("account", creds.username);
        headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ""}`).toString("base64")}`;
      }
      return this.transport.send({ method: "GET", url: u, headers });
    }, reference);
    if (res.status !== 200) {
      discard(res);
      const detail =
        res.status === 401 || res.status === 403
          ? creds === undefined
            ? `unauthorized: authentication required; log in with \`berth login ${registry}\``
            : "the token server refused the credentials (wrong username or password?)"
          : `the token server at ${url.host} answered ${res.status}`;
      throw new RegistryError(kindForStatus(res.status), reference, detail, { status: res.status });
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      body = JSON.parse((await readBody(res)).toString("utf8")) as typeof body;
    } catch (err) {
      throw new RegistryError("protocol", reference, "the token server answered with invalid JSON", { cause: err });
    }
    const value = typeof body.token === "string" && body.token !== "" ? body.token : body.access_token;
    if (typeof value !== "string" || value === "") {
      throw new RegistryError("protocol", reference, "the token server answered without a token");
    }
    // The spec's default lifetime is 60 s; keep a margin so a token does not expire mid-request.
    const expiresIn = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
    return { value, expiresAt: Date.now() + Math.max(expiresIn - 10, 5) * 1000 };
  }

  private async sendWithRetry(send: () => Promise<HttpResponse>, reference: string): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await send();
      } catch (err) {
        if (isTransientNetworkError(err) && attempt < this.retry.retries) {
          await wait(backoffDelay(this.retry, attempt));
          continue;
        }
        throw new RegistryError("unreachable", reference, `token server unreachable: ${(err as Error).message}`, { cause: err });
      }
      if (isTransientStatus(res.status) && attempt < this.retry.retries) {
        discard(res);
        await wait(backoffDelay(this.retry, attempt, header(res, "retry-after")));
        continue;
      }
      return res;
    }
  }
}

function tokenKey(registry: string, scopes: string[]): string {
  return `${registry} ${[...scopes].sort().join(" ")}`;
}

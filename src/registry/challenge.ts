/** An auth challenge from a registry's `WWW-Authenticate` header (RFC 7235). */
export interface AuthChallenge {
  scheme: "basic" | "bearer";
  /** Lower-cased parameter names: realm, service, scope, error … */
  params: Record<string, string>;
}

/**
 * Parses the challenges in a WWW-Authenticate header. Quoted values may hold commas (a
 * bearer `scope="repository:a:pull,push"`) and backslash escapes. Unknown schemes are skipped.
 */
export function parseChallenges(headerValue: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const s = headerValue;
  const skipSpace = (): void => {
    while (i < s.length && (s[i] === " " || s[i] === "\t" || s[i] === ",")) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < s.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z/]/.test(s[i] ?? "")) i++;
    return s.slice(start, i);
  };
  // undefined before the first scheme; null while reading an unknown scheme's parameters
  let current: AuthChallenge | null | undefined;
  while (i < s.length) {
    skipSpace();
    const start = i;
    const word = token();
    if (word === "") {
      i++;
      continue;
    }
    // `name=` starts a parameter of the current challenge; a bare word starts a new challenge.
    let j = i;
    while (s[j] === " ") j++;
    if (s[j] === "=" && current !== undefined) {
      i = j + 1;
      while (s[i] === " ") i++;
      let value = "";
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else {
        const vs = i;
        while (i < s.length && s[i] !== ",") i++;
        value = s.slice(vs, i).trim();
      }
      if (current !== null) current.params[word.toLowerCase()] = value;
      continue;
    }
    const scheme = word.toLowerCase();
    if (scheme === "basic" || scheme === "bearer") {
      current = { scheme, params: {} };
      out.push(current);
    } else {
      current = null;
      if (start === i) i++;
    }
  }
  return out;
}

import { CopyError } from "./errors.js";

/** Full st_mode in (type bits tell a directory), the permission bits (07777) to write out. */
export type ModeFunction = (mode: number, isDir: boolean) => number;

/**
 * `--chmod`: an octal mode (at most 07777) as Docker, or a symbolic mode (`u+x,g-w,o=r`, `a+X`)
 * as BuildKit accepts since Dockerfile 1.14 (chmod(1) semantics; `X` sets execute on
 * directories and on files that already have an execute bit).
 */
export function parseChmod(spec: string): ModeFunction {
  if (/^[0-7]+$/.test(spec)) {
    const m = parseInt(spec, 8);
    if (m > 0o7777) throw new CopyError(`invalid chmod parameter: '${spec}'. it should be octal string and between 0 and 07777`);
    return () => m;
  }
  if (/^[0-9]+$/.test(spec)) throw new CopyError(`invalid chmod parameter: '${spec}'. it should be octal string and between 0 and 07777`);
  const clauses = spec.split(",").map((clause) => {
    const m = /^([ugoa]*)([-+=])([rwxXst]*|[ugo])$/.exec(clause);
    if (!m) throw new CopyError(`invalid --chmod=${spec}: bad clause ${JSON.stringify(clause)}`);
    return { who: m[1] === "" ? "a" : m[1], op: m[2], perms: m[3] };
  });
  return (mode, isDir) => {
    let cur = mode & 0o7777;
    for (const c of clauses) {
      const who = c.who.includes("a") ? "ugo" : c.who;
      let mask = 0;
      for (const w of who) mask |= w === "u" ? 0o4700 : w === "g" ? 0o2070 : 0o1007;
      let bits = 0;
      if (/^[ugo]$/.test(c.perms)) {
        const shift = c.perms === "u" ? 6 : c.perms === "g" ? 3 : 0;
        const p = (cur >> shift) & 7;
        bits = p * 0o111;
      } else {
        for (const p of c.perms) {
          if (p === "r") bits |= 0o444;
          else if (p === "w") bits |= 0o222;
          else if (p === "x") bits |= 0o111;
          else if (p === "X") {
            if (isDir || (cur & 0o111) !== 0) bits |= 0o111;
          } else if (p === "s") bits |= 0o6000;
          else if (p === "t") bits |= 0o1000;
        }
      }
      bits &= mask;
      if (c.op === "+") cur |= bits;
      else if (c.op === "-") cur &= ~bits;
      else cur = (cur & ~mask) | bits;
    }
    return cur & 0o7777;
  };
}

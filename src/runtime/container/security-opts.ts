import { RuntimeError } from "../errors.js";
import { readSeccompProfileFile } from "../seccomp.js";

/**
 * --security-opt values (Docker's CLI rules: KEY=VALUE, or the old KEY:VALUE): the settings,
 * and the list as Docker's HostConfig.SecurityOpt keeps it — a seccomp profile file is read
 * now and its compacted content stands for it, so the container does not depend on the file.
 */
export function parseSecurityOpts(opts: string[]): { noNewPrivileges: boolean; seccomp: string | undefined; securityOpt: string[] } {
  let noNewPrivileges = false;
  let seccomp: string | undefined;
  const securityOpt: string[] = [];
  for (const opt of opts) {
    const sep = opt.includes("=") ? opt.indexOf("=") : opt.indexOf(":");
    const key = sep < 0 ? opt : opt.slice(0, sep);
    const value = sep < 0 ? undefined : opt.slice(sep + 1);
    if (key === "no-new-privileges") {
      if (value !== undefined && value !== "true" && value !== "false") throw new RuntimeError(`invalid --security-opt ${opt}: no-new-privileges takes true or false`);
      noNewPrivileges = value !== "false";
      securityOpt.push(opt);
    } else if (key === "seccomp") {
      if (value === undefined || value === "") throw new RuntimeError(`invalid --security-opt ${opt}: want seccomp=unconfined or seccomp=PROFILE.json`);
      seccomp = value === "unconfined" ? "unconfined" : readSeccompProfileFile(value);
      securityOpt.push(`seccomp=${seccomp}`);
    } else {
      throw new RuntimeError(`unsupported --security-opt "${opt}": berth knows no-new-privileges[=true|false], seccomp=unconfined and seccomp=PROFILE.json`);
    }
  }
  return { noNewPrivileges, seccomp, securityOpt };
}

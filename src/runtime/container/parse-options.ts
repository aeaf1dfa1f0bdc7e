import { RuntimeError } from "../errors.js";

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Docker's RAMInBytes: `512m`, `1g`, `1.5g`, `1048576`; binary units, optional trailing b. */
export function parseBytes(value: string, flag = "--memory"): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([bkmgt]?)b?$/i.exec(value.trim());
  if (m === null) throw new RuntimeError(`invalid value "${value}" for ${flag}: want a size such as 64m or 1g`);
  const bytes = Math.round(Number(m[1]) * (UNITS[(m[2] ?? "").toLowerCase()] ?? 1));
  // the kernel needs room for the task itself; Docker refuses less than 6 MiB
  if (flag === "--memory" && bytes < 6 * 1024 * 1024) throw new RuntimeError(`minimum memory limit allowed is 6MB (${flag} ${value})`);
  return bytes;
}

export function parseCpus(value: string): number {
  const n = Number(value);
  if (!/^[0-9]*\.?[0-9]+$/.test(value.trim()) || !(n > 0)) throw new RuntimeError(`invalid value "${value}" for --cpus: want a positive number such as 0.5`);
  return n;
}

export function parseInteger(value: string, flag: string): number {
  if (!/^-?[0-9]+$/.test(value.trim())) throw new RuntimeError(`invalid value "${value}" for ${flag}: want an integer`);
  return Number(value);
}

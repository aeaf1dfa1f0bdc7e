import { readFileSync } from "node:fs";
import { RuntimeError } from "./errors.js";
import { resolveInRootfs, type RootfsView } from "./lookpath.js";

/** A user as the kernel sees it, with the home directory for $HOME. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const NUMERIC = /^[0-9]+$/;

async function readLines(rootfs: RootfsView, path: string): Promise<string[][]> {
  let text: string;
  try {
    const host = await resolveInRootfs(rootfs, path);
    if (host === undefined) return [];
    text = readFileSync(host, "utf8"); // small: cheaper than a thread-pool round trip
  } catch {
    return [];
  }
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((l) => l.split(":"));
}

async function readPasswd(rootfs: RootfsView): Promise<PasswdEntry[]> {
  return (await readLines(rootfs, "/etc/passwd"))
    .filter((f) => f.length >= 4 && NUMERIC.test(f[2] ?? "") && NUMERIC.test(f[3] ?? ""))
    .map((f) => ({ name: f[0] ?? "", uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? "/" }));
}

async function readGroup(rootfs: RootfsView): Promise<GroupEntry[]> {
  return (await readLines(rootfs, "/etc/group"))
    .filter((f) => f.length >= 3 && NUMERIC.test(f[2] ?? ""))
    .map((f) => ({ name: f[0] ?? "", gid: Number(f[2]), members: (f[3] ?? "").split(",").filter((m) => m !== "") }));
}

/**
 * Resolve `user[:group]` (names or numeric ids) against the rootfs's /etc/passwd and
 * /etc/group, as runc's user.GetExecUser does for Docker: a name must exist; a numeric uid
 * need not (gid 0, home /); without a group the user's primary group is used; supplementary
 * groups are those listing the user as a member. An empty spec means root.
 */
export async function resolveUser(rootfs: RootfsView, spec: string | undefined): Promise<ResolvedUser> {
  const [userPart = "", groupPart] = (spec ?? "").split(":", 2);
  const passwd = userPart === "" || (NUMERIC.test(userPart) && groupPart !== undefined && NUMERIC.test(groupPart)) ? undefined : await readPasswd(rootfs);
  let uid = 0;
  let gid = 0;
  let home = "/";
  let name: string | undefined;
  if (userPart === "") {
    name = "root";
    home = "/root";
  } else if (NUMERIC.test(userPart)) {
    uid = Number(userPart);
    const entry = passwd?.find((p) => p.uid === uid);
    if (entry) {
      gid = entry.gid;
      home = entry.home;
      name = entry.name;
    }
  } else {
    const entry = passwd?.find((p) => p.name === userPart);
    if (!entry) throw new RuntimeError(`unable to find user ${userPart}: no matching entries in passwd file`);
    ({ uid, gid, home, name } = entry);
  }
  const needGroups = (groupPart !== undefined && !NUMERIC.test(groupPart)) || name !== undefined;
  const groups = needGroups ? await readGroup(rootfs) : [];
  if (groupPart !== undefined && groupPart !== "") {
    if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((e) => e.name === groupPart);
      if (!g) throw new RuntimeError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  const additionalGids = name === undefined ? [] : groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid);
  return { uid, gid, additionalGids, home };
}

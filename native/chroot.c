// berth-chroot: a RUN step under `berth build --isolation chroot` (src/builder/run/chroot.ts).
// argv: ROOT CWD UID GID GROUPS -- COMMAND [ARG...]; GROUPS is a comma-separated list of
// supplementary gids, or "-" for none. It chroot(2)s into ROOT, changes to CWD inside it, drops
// to UID/GID (when they differ from its own) and execs COMMAND, searched in the PATH of the
// environment it was given. No namespaces, no mounts, no seccomp filter: the isolation of
// Buildah's chroot mode, without its bind mounts (which need CAP_SYS_ADMIN, the very thing a
// container started without --privileged lacks). Exit 127 when the command is not found, 126
// when it cannot be executed, 125 for the helper's own failures (Docker's codes).
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int fail(const char* what, const char* arg) {
  fprintf(stderr, "berth-chroot: %s %s: %s\n", what, arg, strerror(errno));
  return 125;
}

int main(int argc, char** argv) {
  if (argc < 8 || strcmp(argv[6], "--") != 0) {
    fprintf(stderr, "usage: berth-chroot ROOT CWD UID GID GROUPS -- COMMAND [ARG...]\n");
    return 125;
  }
  const char* root = argv[1];
  const char* cwd = argv[2];
  uid_t uid = (uid_t)strtoul(argv[3], NULL, 10);
  gid_t gid = (gid_t)strtoul(argv[4], NULL, 10);
  gid_t groups[64];
  size_t ngroups = 0;
  if (strcmp(argv[5], "-") != 0) {
    for (char* g = strtok(argv[5], ","); g != NULL && ngroups < 64; g = strtok(NULL, ",")) groups[ngroups++] = (gid_t)strtoul(g, NULL, 10);
  }
  if (chdir(root) != 0) return fail("chdir", root);
  if (chroot(".") != 0) return fail("chroot", root);
  if (chdir(cwd) != 0) return fail("chdir", cwd);
  if (getuid() != uid || getgid() != gid || ngroups > 0) {
    if (setgroups(ngroups, groups) != 0) return fail("setgroups", argv[5]);
    if (setgid(gid) != 0) return fail("setgid", argv[4]);
    if (setuid(uid) != 0) return fail("setuid", argv[3]);
  }
  execvp(argv[7], argv + 7);
  int code = errno == ENOENT ? 127 : 126;
  fprintf(stderr, "berth-chroot: exec %s: %s\n", argv[7], strerror(errno));
  return code;
}

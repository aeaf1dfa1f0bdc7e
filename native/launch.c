/*
 * berth-launch: what bin/berth's shell line runs (bin/berth SCRIPT ARGS... becomes
 * berth-launch SCRIPT ARGS...), before Node starts.
 *
 * As root: execs `node -- SCRIPT ARGS...`, with NODE_EXTRA_CA_CERTS handed over as
 * __BERTH_NODE_EXTRA_CA_CERTS (see bin/berth).
 *
 * As an ordinary user whose namespace holder runs (src/sys/userns.ts records it as
 * `<pid> <start time>` in <run root>/userns.pid): joins the holder's user and mount namespaces
 * with setns(2) — which needs a single-threaded caller, so it cannot be done once Node runs —
 * becomes uid/gid 0 there as nsenter does, returns to the working directory (joining a mount
 * namespace moves the caller to its root), sets _BERTH_ROOTLESS_UID and execs node as above.
 * The command then runs in the process the user started: no second Node start, no process
 * waiting for it. Without a live holder (the first command, or after it was stopped) it execs
 * node as the user, and bin/berth starts the holder and enters it with nsenter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fail(const char *what) {
  fprintf(stderr, "berth: rootless berth cannot enter its user namespace: %s: %s\n", what, strerror(errno));
  exit(125);
}

/* The run root as src/sys/run-root.ts resolves it for an ordinary user. */
static int run_root(char *out, size_t size, uid_t uid) {
  const char *set = getenv("BERTH_RUN_ROOT");
  if (set != NULL && set[0] == '/') return snprintf(out, size, "%s", set) < (int)size ? 0 : -1;
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  int n = xdg != NULL && xdg[0] != '\0' ? snprintf(out, size, "%s/berth", xdg) : snprintf(out, size, "/tmp/berth-%u", (unsigned)uid);
  return n < (int)size ? 0 : -1;
}

/* Field 22 of /proc/PID/stat (start time), or NULL when the process is gone or a zombie. */
static const char *start_time(long pid, char *out, size_t size) {
  char path[64], stat[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  ssize_t n = read(fd, stat, sizeof stat - 1);
  close(fd);
  if (n <= 0) return NULL;
  stat[n] = '\0';
  char *p = strrchr(stat, ')');
  if (p == NULL || p[1] != ' ') return NULL;
  p += 2;
  if (*p == 'Z' || *p == 'X') return NULL;
  /* p is field 3 (state): the start time is 19 fields on */
  for (int field = 3; field < 22; field++) {
    p = strchr(p, ' ');
    if (p == NULL) return NULL;
    p++;
  }
  size_t len = strcspn(p, " ");
  if (len == 0 || len >= size) return NULL;
  memcpy(out, p, len);
  out[len] = '\0';
  return out;
}

/* The recorded holder's pid when it still runs (same pid, same start time), else 0. */
static long live_holder(uid_t uid) {
  char root[PATH_MAX], file[PATH_MAX + 16], text[128], now[32];
  if (run_root(root, sizeof root, uid) < 0) return 0;
  snprintf(file, sizeof file, "%s/userns.pid", root);
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return 0;
  text[n] = '\0';
  char *end;
  long pid = strtol(text, &end, 10);
  if (pid <= 0 || *end != ' ') return 0;
  char *started = end + 1;
  started[strcspn(started, " \n")] = '\0';
  const char *t = start_time(pid, now, sizeof now);
  return t != NULL && strcmp(t, started) == 0 ? pid : 0;
}

static int enter(long pid, uid_t uid) {
  char path[64], cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == NULL) fail("getcwd");
  snprintf(path, sizeof path, "/proc/%ld/ns/user", pid);
  int user = open(path, O_RDONLY | O_CLOEXEC);
  snprintf(path, sizeof path, "/proc/%ld/ns/mnt", pid);
  int mnt = open(path, O_RDONLY | O_CLOEXEC);
  /* gone meanwhile, or not the user's: bin/berth starts a holder of its own */
  if (user < 0 || mnt < 0 || setns(user, CLONE_NEWUSER) != 0) return -1;
  if (setns(mnt, CLONE_NEWNS) != 0) fail("setns (mount namespace)");
  close(user);
  close(mnt);
  /* as nsenter: no supplementary groups (refused when the namespace denies setgroups), root's ids */
  if (setgroups(0, NULL) != 0 && errno != EPERM) fail("setgroups");
  if (setgid(0) != 0) fail("setgid");
  if (setuid(0) != 0) fail("setuid");
  if (chdir(cwd) != 0) fail(cwd);
  char id[16];
  snprintf(id, sizeof id, "%u", (unsigned)uid);
  if (setenv("_BERTH_ROOTLESS_UID", id, 1) != 0) fail("setenv");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: berth-launch SCRIPT [ARGS...]\n");
    return 125;
  }
  uid_t uid = geteuid();
  if (uid != 0) {
    long pid = live_holder(uid);
    if (pid > 0) enter(pid, uid);
  }
  const char *ca = getenv("NODE_EXTRA_CA_CERTS");
  if (setenv("__BERTH_NODE_EXTRA_CA_CERTS", ca != NULL ? ca : "", 1) != 0) fail("setenv");
  unsetenv("NODE_EXTRA_CA_CERTS");
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (args == NULL) fail("calloc");
  args[0] = "node";
  args[1] = "--";
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  execvp("node", args);
  fail("node");
  return 125;
}

// berth-secret-env: the first process of a RUN that has `--mount=type=secret,env=NAME`. runc
// hands it fd 3 (`runc run --preserve-fds 1`), a socket from berth carrying NAME=VALUE
// entries, each ended by a NUL byte; it puts them in its environment, closes the fd and execs
// the step's command (argv[1]…), searched in PATH as runc would. The values so reach the
// command's environment without ever being in the bundle's config.json (a file).
// Built static by scripts/build-native.mjs: it runs inside any image, with any libc or none.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  size_t cap = 4096, len = 0;
  char* buf = malloc(cap);
  if (buf == NULL) return 125;
  for (;;) {
    if (len == cap) {
      cap *= 2;
      char* grown = realloc(buf, cap);
      if (grown == NULL) return 125;
      buf = grown;
    }
    ssize_t n = read(3, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      fprintf(stderr, "berth-secret-env: reading the secrets: %s\n", strerror(errno));
      return 125;
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  close(3);
  // entries stay in `buf` (putenv keeps the pointers)
  for (size_t start = 0; start < len;) {
    char* entry = buf + start;
    size_t n = strnlen(entry, len - start);
    if (start + n == len) break; // no terminating NUL: incomplete, ignored
    if (strchr(entry, '=') != NULL) putenv(entry);
    start += n + 1;
  }
  if (argc < 2) {
    fprintf(stderr, "berth-secret-env: no command\n");
    return 125;
  }
  execvp(argv[1], argv + 1);
  int err = errno;
  if (err == ENOENT && strchr(argv[1], '/') == NULL) fprintf(stderr, "exec: \"%s\": executable file not found in $PATH\n", argv[1]);
  else fprintf(stderr, "exec: \"%s\": %s\n", argv[1], strerror(err));
  return err == ENOENT ? 127 : 126;
}

// syncfs(2), flock(2), l*xattr(2), a batched directory lstat, a tree removal and a sealed copy
// of an executable for berth (see src/native.ts).
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <node_api.h>

#define CHECK(call) do { if ((call) != napi_ok) return NULL; } while (0)

static napi_value errno_error(napi_env env, int err, const char* syscall, const char* path) {
  napi_value msg, code, e, sys, p;
  char text[512];
  snprintf(text, sizeof text, "%s %s: %s", syscall, path ? path : "", strerror(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &e);
  // the shape of Node's own fs errors: code ("ENOENT"), errno, syscall, path
  const char* name = err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES" : err == EPERM ? "EPERM" : err == EWOULDBLOCK ? "EWOULDBLOCK" : err == EBADF ? "EBADF"
    : err == EINTR ? "EINTR" : err == ENOTSUP ? "ENOTSUP" : err == ENOTDIR ? "ENOTDIR" : err == ERANGE ? "ERANGE" : err == E2BIG ? "E2BIG" : err == ENOSPC ? "ENOSPC"
    : err == ELOOP ? "ELOOP" : err == EXDEV ? "EXDEV" : err == ENOSYS ? "ENOSYS" : err == EEXIST ? "EEXIST" : err == EISDIR ? "EISDIR" : err == EAGAIN ? "EAGAIN" : "EIO";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, e, "code", code);
  napi_value no;
  napi_create_int32(env, -err, &no);
  napi_set_named_property(env, e, "errno", no);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, e, "syscall", sys);
  if (path) {
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &p);
    napi_set_named_property(env, e, "path", p);
  }
  return e;
}

/** A string argument as a malloc'd C string (NULL, with a pending exception, when it is not one). */
static char* path_arg(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char* p = malloc(len + 1);
  if (napi_get_value_string_utf8(env, v, p, len + 1, &len) != napi_ok) { free(p); return NULL; }
  return p;
}

// ---------------------------------------------------------------- jobs on libuv's thread pool
// A path in, a promise out: resolved with undefined, or rejected with the errno of the system
// call the job names in `failed`.

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char* path;
  int err;
  char failed[32];
  int value; // resolved with it when >= 0 (set by the job), else with undefined
} PathJob;

/** The end of any job that starts as a PathJob: its async work and the job itself go. */
static void path_job_free(napi_env env, PathJob* job) {
  napi_delete_async_work(env, job->work);
  free(job->path);
  free(job);
}

static void path_job_complete(napi_env env, napi_status status, void* data) {
  PathJob* job = data;
  if (job->err == 0) {
    napi_value result;
    if (job->value >= 0) napi_create_int32(env, job->value, &result);
    else napi_get_undefined(env, &result);
    napi_resolve_deferred(env, job->deferred, result);
  } else {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err, job->failed, job->path));
  }
  path_job_free(env, job);
}

/**
 * Queues a job over the path argument; resolves through `complete`. `size`: the job's struct,
 * a PathJob or one that starts with a PathJob (a job with a result of its own kind).
 */
static napi_value queue_job(napi_env env, napi_callback_info info, const char* name, napi_async_execute_callback execute,
                            napi_async_complete_callback complete, size_t size) {
  size_t argc = 1;
  napi_value argv[1], promise, resource;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char* path = path_arg(env, argv[0]);
  if (path == NULL) return NULL;
  PathJob* job = calloc(1, size);
  job->path = path;
  job->value = -1;
  CHECK(napi_create_promise(env, &job->deferred, &promise));
  CHECK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource));
  CHECK(napi_create_async_work(env, NULL, resource, execute, complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  return promise;
}

static napi_value queue_path_job(napi_env env, napi_callback_info info, const char* name, napi_async_execute_callback execute) {
  return queue_job(env, info, name, execute, path_job_complete, sizeof(PathJob));
}

static void fail(PathJob* job, const char* syscall) {
  job->err = errno;
  snprintf(job->failed, sizeof job->failed, "%s", syscall);
}

// ---------------------------------------------------------------- syncfs(path): Promise<void>

static void syncfs_execute(napi_env env, void* data) {
  PathJob* job = data;
  int fd = open(job->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) { fail(job, "syncfs"); return; }
  if (syncfs(fd) != 0) fail(job, "syncfs");
  close(fd);
}

static napi_value js_syncfs(napi_env env, napi_callback_info info) {
  return queue_path_job(env, info, "berth:syncfs", syncfs_execute);
}

// ---------------------------------------------------------------- flock(fd, exclusive): boolean
// Non-blocking (LOCK_NB): true when taken, false when another open file description holds it
// in a conflicting mode. Callers that must wait poll; the lock goes with the descriptor.

static napi_value js_try_flock(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  bool exclusive;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_bool(env, argv[1], &exclusive));
  int r;
  do r = flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB); while (r != 0 && errno == EINTR);
  if (r != 0) {
    if (errno == EWOULDBLOCK) {
      CHECK(napi_get_boolean(env, false, &result));
      return result;
    }
    napi_throw(env, errno_error(env, errno, "flock", NULL));
    return NULL;
  }
  CHECK(napi_get_boolean(env, true, &result));
  return result;
}

// ---------------------------------------------------------------- extended attributes
// The l* calls: a symlink's own attributes, never its target's. Names and values as the
// kernel has them; a missing attribute is null, not an error.

/**
 * An l*xattr call that fills a buffer: into `stack` when it fits, else into a malloc'd buffer of
 * the size the call reports for a NULL buffer. *buf is the buffer used (free it unless stack).
 */
static ssize_t sized_xattr(const char* path, const char* name, char* stack, size_t stack_size, char** buf) {
  ssize_t n;
  *buf = stack;
  n = name ? lgetxattr(path, name, stack, stack_size) : llistxattr(path, stack, stack_size);
  if (n >= 0 || errno != ERANGE) return n;
  n = name ? lgetxattr(path, name, NULL, 0) : llistxattr(path, NULL, 0);
  if (n < 0) return n;
  *buf = malloc(n > 0 ? n : 1);
  n = name ? lgetxattr(path, name, *buf, n) : llistxattr(path, *buf, n);
  return n;
}

// listAttributesSync(path): string[]
static napi_value js_list_xattrs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char* path = path_arg(env, argv[0]);
  if (path == NULL) return NULL;
  char stack[4096];
  char* buf;
  ssize_t n = sized_xattr(path, NULL, stack, sizeof stack, &buf);
  if (n < 0) {
    int err = errno;
    if (buf != stack) free(buf);
    napi_throw(env, errno_error(env, err, "llistxattr", path));
    free(path);
    return NULL;
  }
  CHECK(napi_create_array(env, &result));
  uint32_t i = 0;
  for (ssize_t off = 0; off < n;) {
    size_t len = strnlen(buf + off, n - off);
    napi_value name;
    napi_create_string_utf8(env, buf + off, len, &name);
    napi_set_element(env, result, i++, name);
    off += len + 1;
  }
  if (buf != stack) free(buf);
  free(path);
  return result;
}

// getAttributeSync(path, name): Buffer | null
static napi_value js_get_xattr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char* path = path_arg(env, argv[0]);
  char* name = path_arg(env, argv[1]);
  if (path == NULL || name == NULL) { free(path); free(name); return NULL; }
  char stack[4096];
  char* buf;
  ssize_t n = sized_xattr(path, name, stack, sizeof stack, &buf);
  if (n < 0) {
    int err = errno;
    if (buf != stack) free(buf);
    if (err == ENODATA) {
      napi_get_null(env, &result);
    } else {
      napi_throw(env, errno_error(env, err, "lgetxattr", path));
      result = NULL;
    }
    free(path);
    free(name);
    return result;
  }
  void* data;
  napi_create_buffer_copy(env, n, buf, &data, &result);
  if (buf != stack) free(buf);
  free(path);
  free(name);
  return result;
}

// setAttributeSync(path, name, value: Buffer | string): void
static napi_value js_set_xattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char* path = path_arg(env, argv[0]);
  char* name = path_arg(env, argv[1]);
  if (path == NULL || name == NULL) { free(path); free(name); return NULL; }
  bool is_buffer = false;
  napi_is_buffer(env, argv[2], &is_buffer);
  void* data = NULL;
  size_t len = 0;
  char* str = NULL;
  if (is_buffer) napi_get_buffer_info(env, argv[2], &data, &len);
  else {
    bool is_typed = false;
    napi_is_typedarray(env, argv[2], &is_typed);
    if (is_typed) {
      napi_typedarray_type t;
      size_t count, offset;
      napi_value ab;
      napi_get_typedarray_info(env, argv[2], &t, &count, &data, &ab, &offset);
      len = count;
    } else {
      str = path_arg(env, argv[2]);
      if (str == NULL) { free(path); free(name); return NULL; }
      data = str;
      len = strlen(str);
    }
  }
  if (lsetxattr(path, name, data, len, 0) != 0) napi_throw(env, errno_error(env, errno, "lsetxattr", path));
  free(str);
  free(path);
  free(name);
  return NULL;
}

// ---------------------------------------------------------------- statDir(path)
// A directory's entries and their lstat, in one call: readdir, then fstatat(dirfd, name,
// AT_SYMLINK_NOFOLLOW) per entry — one path component to resolve instead of the whole path,
// and no string or object per entry on the JS side but the name. Returns [names, stats]:
// stats holds STAT_FIELDS numbers per name (see src/native.ts); an entry removed meanwhile has
// mode 0.

#define STAT_FIELDS 10

/** A directory's listing: names and STAT_FIELDS numbers per name; or the errno of the call that failed. */
typedef struct {
  char** names;
  size_t n;
  double* fields;
  int err;
  char failed[32];
  char* failed_path; // the entry whose lstat failed (NULL: the directory)
} Listing;

static void listing_free(Listing* l) {
  for (size_t i = 0; i < l->n; i++) free(l->names[i]);
  free(l->names);
  free(l->fields);
  free(l->failed_path);
}

/**
 * Node's order for the fields berth uses: dev mode nlink uid gid rdev ino size, and mtime and
 * ctime in milliseconds as Node computes mtimeMs.
 */
static void fill_fields(double* f, const struct stat* st) {
  f[0] = (double)st->st_dev; f[1] = (double)st->st_mode; f[2] = (double)st->st_nlink; f[3] = (double)st->st_uid;
  f[4] = (double)st->st_gid; f[5] = (double)st->st_rdev; f[6] = (double)st->st_ino; f[7] = (double)st->st_size;
  f[8] = (double)st->st_mtim.tv_sec * 1e3 + (double)st->st_mtim.tv_nsec / 1e6;
  f[9] = (double)st->st_ctim.tv_sec * 1e3 + (double)st->st_ctim.tv_nsec / 1e6;
}

/** Lists and lstats `path` into `l` (no N-API: runs on any thread). */
static void list_dir(const char* path, Listing* l) {
  memset(l, 0, sizeof *l);
  DIR* dir = opendir(path);
  if (dir == NULL) { l->err = errno; strcpy(l->failed, "opendir"); return; }
  int dfd = dirfd(dir);
  size_t cap = 64;
  l->names = malloc(cap * sizeof *l->names);
  struct dirent* e;
  errno = 0;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0))) continue;
    if (l->n == cap) { cap *= 2; l->names = realloc(l->names, cap * sizeof *l->names); }
    l->names[l->n++] = strdup(e->d_name);
    errno = 0;
  }
  if (errno != 0) { l->err = errno; strcpy(l->failed, "readdir"); closedir(dir); return; }
  l->fields = malloc((l->n > 0 ? l->n : 1) * STAT_FIELDS * sizeof(double));
  for (size_t i = 0; i < l->n; i++) {
    struct stat st;
    double* f = l->fields + i * STAT_FIELDS;
    if (fstatat(dfd, l->names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) { l->err = errno; strcpy(l->failed, "lstat"); l->failed_path = strdup(l->names[i]); break; }
      memset(f, 0, STAT_FIELDS * sizeof(double));
      continue;
    }
    fill_fields(f, &st);
  }
  closedir(dir);
}

/** The listing as [names, Float64Array], or the error to throw (in *error). */
static napi_value listing_value(napi_env env, Listing* l, const char* path, napi_value* error) {
  *error = NULL;
  if (l->err != 0) {
    *error = errno_error(env, l->err, l->failed, l->failed_path != NULL ? l->failed_path : path);
    return NULL;
  }
  napi_value result, js_names, buffer, stats;
  double* fields;
  napi_create_array_with_length(env, l->n, &js_names);
  napi_create_arraybuffer(env, l->n * STAT_FIELDS * sizeof(double), (void**)&fields, &buffer);
  napi_create_typedarray(env, napi_float64_array, l->n * STAT_FIELDS, buffer, 0, &stats);
  if (l->n > 0) memcpy(fields, l->fields, l->n * STAT_FIELDS * sizeof(double));
  for (size_t i = 0; i < l->n; i++) {
    napi_value name;
    napi_create_string_utf8(env, l->names[i], NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, js_names, i, name);
  }
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, js_names);
  napi_set_element(env, result, 1, stats);
  return result;
}

static napi_value js_stat_dir(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char* path = path_arg(env, argv[0]);
  if (path == NULL) return NULL;
  Listing l;
  list_dir(path, &l);
  napi_value error, result = listing_value(env, &l, path, &error);
  if (error != NULL) napi_throw(env, error);
  listing_free(&l);
  free(path);
  return result;
}

// lstat(path, out): one path's STAT_FIELDS numbers written into `out` (a Float64Array the
// caller reuses: no object per call), without the Stats object and its Dates that
// fs.lstatSync makes; false when nothing is there (ENOENT, ENOTDIR), other errors thrown.
static napi_value js_lstat(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) { napi_throw_type_error(env, NULL, "lstat(path, out)"); return NULL; }
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float64_array || length < STAT_FIELDS) {
    napi_throw_type_error(env, NULL, "lstat: out must be a Float64Array of STAT_FIELDS numbers");
    return NULL;
  }
  char* path = path_arg(env, argv[0]);
  if (path == NULL) return NULL;
  struct stat st;
  napi_value result;
  if (lstat(path, &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) napi_get_boolean(env, false, &result);
    else { napi_throw(env, errno_error(env, errno, "lstat", path)); result = NULL; }
    free(path);
    return result;
  }
  free(path);
  fill_fields((double*)data, &st);
  napi_get_boolean(env, true, &result);
  return result;
}

// statDirAsync(path): the same on libuv's thread pool (a context's directories listed side by side).

typedef struct {
  PathJob base;
  Listing listing;
} ListJob;

static void list_execute(napi_env env, void* data) {
  ListJob* job = data;
  list_dir(job->base.path, &job->listing);
}

static void list_complete(napi_env env, napi_status status, void* data) {
  ListJob* job = data;
  napi_value error, result = listing_value(env, &job->listing, job->base.path, &error);
  if (error != NULL) napi_reject_deferred(env, job->base.deferred, error);
  else napi_resolve_deferred(env, job->base.deferred, result);
  listing_free(&job->listing);
  path_job_free(env, &job->base);
}

static napi_value js_stat_dir_async(napi_env env, napi_callback_info info) {
  return queue_job(env, info, "berth:statDir", list_execute, list_complete, sizeof(ListJob));
}

// ---------------------------------------------------------------- removeTree(path): Promise<void>
// `rm -rf` on libuv's thread pool: openat/unlinkat relative to each directory's fd, never
// following a symlink (one is removed as itself). A missing path is no error. Directories are
// made writable and searchable first where they are not (overlayfs leaves a work/work dir with
// mode 000; root passes that anyway, other users do not).

/** Empties the directory open as `fd` (closed here); 0 or an errno. Names are read first, then removed. */
static int empty_dir(int fd, char* failed) {
  DIR* dir = fdopendir(fd);
  if (dir == NULL) { int e = errno; close(fd); strcpy(failed, "fdopendir"); return e; }
  size_t n = 0, cap = 0;
  char** names = NULL;
  int err = 0;
  for (;;) {
    errno = 0;
    struct dirent* d = readdir(dir);
    if (d == NULL) { if (errno != 0) { err = errno; strcpy(failed, "readdir"); } break; }
    if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0) continue;
    if (n == cap) { cap = cap == 0 ? 16 : cap * 2; names = realloc(names, cap * sizeof *names); }
    names[n++] = strdup(d->d_name);
  }
  int dfd = dirfd(dir);
  for (size_t i = 0; i < n && err == 0; i++) {
    const char* name = names[i];
    if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT) continue;
    if (errno != EISDIR && errno != EPERM) { err = errno; strcpy(failed, "unlink"); break; }
    int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0 && errno == EACCES) {
      fchmodat(dfd, name, 0700, 0);
      sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (sub < 0) { if (errno != ENOENT) { err = errno; strcpy(failed, "open"); } continue; }
    err = empty_dir(sub, failed);
    if (err == 0 && unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) { err = errno; strcpy(failed, "rmdir"); }
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  closedir(dir);
  return err;
}

static void remove_execute(napi_env env, void* data) {
  PathJob* job = data;
  if (unlink(job->path) == 0 || errno == ENOENT) return;
  if (errno != EISDIR && errno != EPERM) { fail(job, "unlink"); return; }
  int fd = open(job->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) { if (errno != ENOENT) fail(job, "open"); return; }
  job->err = empty_dir(fd, job->failed);
  if (job->err == 0 && rmdir(job->path) != 0 && errno != ENOENT) fail(job, "rmdir");
}

static napi_value js_remove_tree(napi_env env, napi_callback_info info) {
  return queue_path_job(env, info, "berth:removeTree", remove_execute);
}

// ---------------------------------------------------------------- sealedCopy(path): Promise<number>
// The file copied into a memfd sealed against any change (F_SEAL_SEAL|SHRINK|GROW|WRITE, the
// seals runc's cloned_binary.c checks), on libuv's thread pool; resolves with the fd
// (close-on-exec). runc started from it (/proc/<pid>/fd/<fd>) finds its /proc/self/exe sealed
// and skips its own per-container copy: the bind mount, remount, unmount and second exec of
// every `runc init` (CVE-2019-5736's protection, kept: nothing can write a sealed memfd).

static void sealed_copy_execute(napi_env env, void* data) {
  PathJob* job = data;
  int src = open(job->path, O_RDONLY | O_CLOEXEC);
  if (src < 0) { fail(job, "open"); return; }
  struct stat st;
  if (fstat(src, &st) != 0) { fail(job, "fstat"); close(src); return; }
  const char* base = strrchr(job->path, '/');
  int fd = memfd_create(base != NULL ? base + 1 : job->path, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) { fail(job, "memfd_create"); close(src); return; }
  off_t done = 0;
  while (done < st.st_size) {
    ssize_t n = sendfile(fd, src, NULL, (size_t)(st.st_size - done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { if (n == 0) errno = EIO; fail(job, "sendfile"); close(src); close(fd); return; }
    done += n;
  }
  close(src);
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) { fail(job, "fcntl"); close(fd); return; }
  job->value = fd;
}

static napi_value js_sealed_copy(napi_env env, napi_callback_info info) {
  return queue_path_job(env, info, "berth:sealedCopy", sealed_copy_execute);
}

// ---------------------------------------------------------------- spawnPiped(file, argv): [pid, stdout fd, stderr fd, exit]
// posix_spawn(3): glibc's clone(CLONE_VM|CLONE_VFORK) copies no page tables, where Node's
// spawn forks the whole process (2-4 ms of its main thread with a build's heap, and as much
// again in the child to drop the copy). stdin is /dev/null; stdout and stderr are new pipes
// whose read ends (close-on-exec) come back; signals are unblocked and at their defaults, as
// Node's spawn leaves them (Node ignores SIGPIPE: a process must not inherit that). `exit` is a
// promise of the exit code (128+n for signal n), from a thread of its own that waits for the
// child: libuv reaps only the children it spawned itself.

typedef struct {
  pid_t pid;
  int code;
  napi_deferred deferred;
  napi_threadsafe_function tsfn;
} Waiter;

static void waiter_resolve(napi_env env, napi_value js_cb, void* context, void* data) {
  Waiter* w = data;
  if (env != NULL) {
    napi_value code;
    napi_create_int32(env, w->code, &code);
    napi_resolve_deferred(env, w->deferred, code);
  }
  napi_release_threadsafe_function(w->tsfn, napi_tsfn_release);
  free(w);
}

static void* waiter_thread(void* data) {
  Waiter* w = data;
  int status = 0;
  pid_t r;
  while ((r = waitpid(w->pid, &status, 0)) < 0 && errno == EINTR) {}
  w->code = r < 0 ? 255 : WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
  napi_call_threadsafe_function(w->tsfn, w, napi_tsfn_blocking);
  return NULL;
}

static napi_value js_spawn_piped(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char* file = path_arg(env, argv[0]);
  if (file == NULL) return NULL;
  uint32_t n = 0;
  if (napi_get_array_length(env, argv[1], &n) != napi_ok || n == 0) {
    free(file);
    napi_throw_type_error(env, NULL, "spawnPiped: argv must be a non-empty array of strings");
    return NULL;
  }
  char** args = calloc(n + 1, sizeof *args);
  int out[2] = { -1, -1 }, err[2] = { -1, -1 };
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    if (napi_get_element(env, argv[1], i, &v) != napi_ok || (args[i] = path_arg(env, v)) == NULL) goto done;
  }
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    napi_throw(env, errno_error(env, errno, "pipe", NULL));
    goto done;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  // every signal, glibc's own two (32, 33) included: sigfillset leaves them out, and its
  // posix_spawn ignores them in the child, which Go's runtime (runc) then passes on to the
  // container's process
  memset(&all, 0xff, sizeof all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  extern char** environ;
  pid_t pid;
  int rc = posix_spawn(&pid, file, &actions, &attr, args, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out[1]); close(err[1]);
  out[1] = err[1] = -1;
  if (rc != 0) {
    napi_throw(env, errno_error(env, rc, "spawn", file));
    goto done;
  }
  Waiter* w = calloc(1, sizeof *w);
  w->pid = pid;
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "berth:waitpid", NAPI_AUTO_LENGTH, &name);
  napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, waiter_resolve, &w->tsfn);
  // the waiting thread takes no signals: they stay Node's
  sigset_t old, block;
  sigfillset(&block);
  pthread_sigmask(SIG_SETMASK, &block, &old);
  pthread_t thread;
  pthread_attr_t tattr;
  pthread_attr_init(&tattr);
  pthread_attr_setdetachstate(&tattr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&tattr, 64 * 1024);
  int trc = pthread_create(&thread, &tattr, waiter_thread, w);
  pthread_attr_destroy(&tattr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (trc != 0) waiter_thread(w); // cannot happen short of exhaustion: wait here rather than leak a zombie
  napi_value vpid, vout, verr;
  napi_create_array_with_length(env, 4, &result);
  napi_create_int32(env, pid, &vpid);
  napi_create_int32(env, out[0], &vout);
  napi_create_int32(env, err[0], &verr);
  napi_set_element(env, result, 0, vpid);
  napi_set_element(env, result, 1, vout);
  napi_set_element(env, result, 2, verr);
  napi_set_element(env, result, 3, promise);
  out[0] = err[0] = -1;
done:
  for (int i = 0; i < 2; i++) {
    if (out[i] >= 0) close(out[i]);
    if (err[i] >= 0) close(err[i]);
  }
  for (uint32_t i = 0; i < n; i++) free(args[i]);
  free(args);
  free(file);
  return result;
}

// ---------------------------------------------------------------- exitNow(code): never returns
// _exit(2): the process ends here, without Node's teardown (the V8 heap freed page by page, the
// platform's and libuv's threads joined: ~10 ms at the end of every command). For the very end
// of a CLI run only, once everything is written (stdio is synchronous on Linux for files, pipes
// and terminals).

static napi_value js_exit_now(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t code = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1) napi_get_value_int32(env, argv[0], &code);
  _exit(code);
}


// ---------------------------------------------------------------- openInRoot(rootFd, path, flags, mode): fd
// openat2(2) with RESOLVE_IN_ROOT (Linux 5.6+): `path` is resolved as if `rootFd` were the
// process's root — absolute symlinks restart at it, ".." stops at it — by the kernel, in one
// call that a concurrent rename or symlink swap cannot lead outside (src/runtime/in-root.ts).
// Magic links (/proc/self/fd/…) are refused. Synchronous: a handful of lookups.

static napi_value js_open_in_root(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  int32_t root_fd = -1, flags = 0, mode = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) { napi_throw_type_error(env, NULL, "openInRoot(rootFd, path, flags, mode?)"); return NULL; }
  CHECK(napi_get_value_int32(env, argv[0], &root_fd));
  char* path = path_arg(env, argv[1]);
  if (path == NULL) return NULL;
  if (napi_get_value_int32(env, argv[2], &flags) != napi_ok) { free(path); return NULL; }
  if (argc >= 4) napi_get_value_int32(env, argv[3], &mode);
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (unsigned)flags | O_CLOEXEC;
  how.mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? (unsigned)mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd;
  do fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how); while (fd < 0 && (errno == EAGAIN || errno == EINTR));
  if (fd < 0) {
    napi_throw(env, errno_error(env, errno, "openat2", path));
    free(path);
    return NULL;
  }
  free(path);
  CHECK(napi_create_int32(env, (int32_t)fd, &result));
  return result;
}

// ---------------------------------------------------------------- mknodSync(path, mode, dev)
// mknod(2) (Node has none): whiteouts (char 0:0) for build/context-view.ts, a call each instead
// of a mknod(1) process each.

static napi_value js_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t mode = 0;
  int64_t dev = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) { napi_throw_type_error(env, NULL, "mknodSync(path, mode, dev)"); return NULL; }
  char* path = path_arg(env, argv[0]);
  if (path == NULL) return NULL;
  if (napi_get_value_int32(env, argv[1], &mode) != napi_ok || napi_get_value_int64(env, argv[2], &dev) != napi_ok) { free(path); return NULL; }
  if (mknod(path, (mode_t)mode, (dev_t)dev) != 0) napi_throw(env, errno_error(env, errno, "mknod", path));
  free(path);
  return NULL;
}

#define BERTH_NATIVE_ABI 2

static napi_value init(napi_env env, napi_value exports) {
  static const struct { const char* name; napi_callback fn; } functions[] = {
    { "syncfs", js_syncfs },
    { "tryFlock", js_try_flock },
    { "listAttributesSync", js_list_xattrs },
    { "getAttributeSync", js_get_xattr },
    { "setAttributeSync", js_set_xattr },
    { "statDir", js_stat_dir },
    { "lstat", js_lstat },
    { "statDirAsync", js_stat_dir_async },
    { "removeTree", js_remove_tree },
    { "sealedCopy", js_sealed_copy },
    { "spawnPiped", js_spawn_piped },
    { "exitNow", js_exit_now },
    { "openInRoot", js_open_in_root },
    { "mknodSync", js_mknod },
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    CHECK(napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn));
    CHECK(napi_set_named_property(env, exports, functions[i].name, fn));
  }
  /* what src/native.ts checks: raised whenever a function is added or changes shape */
  napi_value abi;
  CHECK(napi_create_uint32(env, BERTH_NATIVE_ABI, &abi));
  CHECK(napi_set_named_property(env, exports, "abi", abi));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

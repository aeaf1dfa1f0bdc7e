// syncfs(2) and flock(2) for berth, which Node lacks (see src/store/native.ts).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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
  const char* name = err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES" : err == EPERM ? "EPERM" : err == EWOULDBLOCK ? "EWOULDBLOCK" : err == EBADF ? "EBADF" : err == EINTR ? "EINTR" : "EIO";
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

// ---------------------------------------------------------------- syncfs(path): Promise<void>

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char* path;
  int err;
} SyncfsJob;

static void syncfs_execute(napi_env env, void* data) {
  SyncfsJob* job = data;
  int fd = open(job->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) { job->err = errno; return; }
  job->err = syncfs(fd) == 0 ? 0 : errno;
  close(fd);
}

static void syncfs_complete(napi_env env, napi_status status, void* data) {
  SyncfsJob* job = data;
  if (job->err == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, job->deferred, undef);
  } else {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err, "syncfs", job->path));
  }
  napi_delete_async_work(env, job->work);
  free(job->path);
  free(job);
}

static napi_value js_syncfs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], promise, name;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t len;
  CHECK(napi_get_value_string_utf8(env, argv[0], NULL, 0, &len));
  SyncfsJob* job = calloc(1, sizeof *job);
  job->path = malloc(len + 1);
  CHECK(napi_get_value_string_utf8(env, argv[0], job->path, len + 1, &len));
  CHECK(napi_create_promise(env, &job->deferred, &promise));
  CHECK(napi_create_string_utf8(env, "berth:syncfs", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, syncfs_execute, syncfs_complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  return promise;
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

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  CHECK(napi_create_function(env, "syncfs", NAPI_AUTO_LENGTH, js_syncfs, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "syncfs", fn));
  CHECK(napi_create_function(env, "tryFlock", NAPI_AUTO_LENGTH, js_try_flock, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "tryFlock", fn));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

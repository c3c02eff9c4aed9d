/* LD_PRELOAD shim for crun 1.8.1 on this host (see rt_exec in bench/lib.sh): crun calls
 * setrlimit(RLIMIT_MEMLOCK, infinity) before loading its device-cgroup eBPF program and
 * fails when that is refused; here the hard limit cannot be raised (CAP_SYS_RESOURCE is
 * not in the bounding set). Kernels >= 5.11 charge BPF memory to the memory cgroup, so the
 * limit does not matter: report success for that one case, pass everything else through. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/resource.h>

int setrlimit(__rlimit_resource_t resource, const struct rlimit *limit) {
    static int (*real)(__rlimit_resource_t, const struct rlimit *);
    if (!real) real = (int (*)(__rlimit_resource_t, const struct rlimit *))dlsym(RTLD_NEXT, "setrlimit");
    int rc = real(resource, limit);
    if (rc < 0 && errno == EPERM && resource == RLIMIT_MEMLOCK) return 0;
    return rc;
}

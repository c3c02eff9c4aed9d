/* The floor: the least a runtime must do to start /bin/true in a container made from the
 * bench bundle. clone() into new pid, mount, uts, ipc and net namespaces; in the child make
 * the mount tree private, bind the rootfs onto itself, pivot_root into it, detach the old
 * root and exec the program; the parent waits and returns the child's status.
 * No cgroup, no /proc, /dev or other mounts, no capabilities/rlimits/seccomp, no state on
 * disk: everything a real runtime does on top of this is its overhead over the floor.
 *
 * usage: floor ROOTFS [PROGRAM [ARG...]]   (default PROGRAM: /bin/true)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char **child_argv;
static const char *rootfs;

static void die(const char *what) {
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    _exit(127);
}

static int child(void *arg) {
    (void)arg;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("make / private");
    if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) die("bind rootfs");
    if (chdir(rootfs) < 0) die("chdir rootfs");
    if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root");
    if (umount2(".", MNT_DETACH) < 0) die("detach old root");
    if (chdir("/") < 0) die("chdir /");
    execv(child_argv[0], child_argv);
    die("execv");
    return 127;
}

int main(int argc, char **argv) {
    static char *default_argv[] = {"/bin/true", NULL};
    static char stack[64 * 1024] __attribute__((aligned(16)));
    if (argc < 2) {
        fprintf(stderr, "usage: floor ROOTFS [PROGRAM [ARG...]]\n");
        return 2;
    }
    rootfs = argv[1];
    child_argv = argc > 2 ? argv + 2 : default_argv;
    int flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | SIGCHLD;
    pid_t pid = clone(child, stack + sizeof stack, flags, NULL);
    if (pid < 0) die("clone");
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) die("waitpid");
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

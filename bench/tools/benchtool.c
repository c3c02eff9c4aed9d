/* Small helpers for bench/run.sh, so that what is timed is the runtime and not bash.
 *
 *   benchtool time -- CMD [ARG...]
 *       runs CMD once (stdin and stdout on /dev/null, stderr kept), waits for it and prints
 *       "<wall_us> <maxrss_kb> <exit>" on stdout. wall_us is CLOCK_MONOTONIC from just
 *       before fork to wait4's return; maxrss_kb is wait4's ru_maxrss (the largest of the
 *       child and the descendants it reaped, as GNU time's "Maximum resident set size").
 *   benchtool conc N -- CMD [ARG...]
 *       starts N copies of CMD at once (every "{}" in an argument replaced by the copy's
 *       index 0..N-1), waits for all and prints "<wall_us> <failed_count> 0".
 *   benchtool reap -- CMD [ARG...]
 *       runs CMD as a child subreaper: orphans of CMD (container inits whose runtime
 *       exited, as under a containerd shim) are reaped instead of piling up as zombies
 *       (PID 1 on this host does not reap). Exits with CMD's status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int exit_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static pid_t spawn(char **argv, int quiet) {
    pid_t pid = fork();
    if (pid == 0) {
        if (quiet) {
            int fd = open("/dev/null", O_RDWR);
            if (fd >= 0) { dup2(fd, 0); dup2(fd, 1); if (fd > 2) close(fd); }
        }
        execvp(argv[0], argv);
        fprintf(stderr, "benchtool: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static char **expand(char **argv, int index) {
    int n = 0;
    while (argv[n]) n++;
    char **out = calloc(n + 1, sizeof *out);
    for (int i = 0; i < n; i++) {
        const char *p = strstr(argv[i], "{}");
        if (!p) { out[i] = argv[i]; continue; }
        size_t len = strlen(argv[i]) + 16;
        out[i] = malloc(len);
        snprintf(out[i], len, "%.*s%d%s", (int)(p - argv[i]), argv[i], index, p + 2);
    }
    return out;
}

static int usage(void) {
    fprintf(stderr, "usage: benchtool time|reap -- CMD...  |  benchtool conc N -- CMD...\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 4) return usage();
    const char *mode = argv[1];
    if (strcmp(mode, "time") == 0 && strcmp(argv[2], "--") == 0) {
        long long t0 = now_us();
        pid_t pid = spawn(argv + 3, 1);
        if (pid < 0) { perror("fork"); return 1; }
        int status;
        struct rusage ru;
        while (wait4(pid, &status, 0, &ru) < 0)
            if (errno != EINTR) { perror("wait4"); return 1; }
        long long t1 = now_us();
        printf("%lld %ld %d\n", t1 - t0, ru.ru_maxrss, exit_code(status));
        return 0;
    }
    if (strcmp(mode, "conc") == 0 && argc >= 5 && strcmp(argv[3], "--") == 0) {
        int n = atoi(argv[2]);
        if (n <= 0) return usage();
        char ***argvs = calloc(n, sizeof *argvs);
        for (int i = 0; i < n; i++) argvs[i] = expand(argv + 4, i);
        long long t0 = now_us();
        for (int i = 0; i < n; i++)
            if (spawn(argvs[i], 1) < 0) { perror("fork"); return 1; }
        int failed = 0, status;
        for (int left = n; left > 0;) {
            pid_t p = wait(&status);
            if (p < 0) { if (errno == EINTR) continue; break; }
            left--;
            if (exit_code(status) != 0) failed++;
        }
        long long t1 = now_us();
        printf("%lld %d 0\n", t1 - t0, failed);
        return 0;
    }
    if (strcmp(mode, "reap") == 0 && strcmp(argv[2], "--") == 0) {
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) perror("benchtool: PR_SET_CHILD_SUBREAPER");
        pid_t main_pid = spawn(argv + 3, 0);
        if (main_pid < 0) { perror("fork"); return 1; }
        for (;;) {
            int status;
            pid_t p = waitpid(-1, &status, 0);
            if (p < 0) { if (errno == EINTR) continue; return 1; }
            if (p == main_pid) {
                while (waitpid(-1, NULL, WNOHANG) > 0) {}
                return exit_code(status);
            }
        }
    }
    return usage();
}

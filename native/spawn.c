/*
 * spawn.c - start a program already inside its cgroup v2.
 *
 * Why C: moving a process into a cgroup by writing its pid to cgroup.procs takes the kernel's
 * cgroup_threadgroup_rwsem for writing, and the first such write after an idle moment waits
 * for an RCU grace period (4-16 ms measured on our hosts, on every `husk create`).
 * clone3(CLONE_INTO_CGROUP) makes the child in its cgroup2 directory instead: no migration.
 * posix_spawn cannot ask for that, so this does posix_spawn's job with clone3(CLONE_INTO_CGROUP):
 * in the child, place the fds, reset signals, execve. (cgroup v1 hierarchies are joined by the
 * child itself, single-threaded, in nsexec.c.) The managed side opened the directory and
 * decides everything; this only executes.
 *
 * The child is a copy of the (multi-threaded) caller, made without CLONE_VM: it only makes
 * system calls until execve. Unlike posix_spawn the caller does not wait for the exec (no
 * CLONE_VFORK) and goes on with its own work meanwhile; a failure comes back through a
 * close-on-exec pipe, whose read end the caller gets: end-of-file there means the exec happened.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* What failed in the child, for the caller's message; keep in sync with src/Husk/Linux/Spawner.cs. */
enum { STEP_FDS = 1, STEP_EXEC = 2 };

static void report(int pipe_fd, int step)
{
	int msg[2] = { step, errno };
	(void)!write(pipe_fd, msg, sizeof(msg));
	_exit(127);
}

/*
 * Starts `path` with argv/envp. fd_src[i] becomes fd_dst[i] (sources must not collide with
 * targets), fds >= close_from are closed, signals are reset to default and unblocked.
 * cgroup2_fd >= 0: the child is made in that cgroup2 directory. Returns 0 with *pid and
 * *status_fd set (the pipe: nothing, then end-of-file, once the child has exec'd; or two ints,
 * the step that failed and its errno), or -1 with *err set when clone3 itself failed (e.g.
 * ENOSYS before Linux 5.7).
 */
int husk_spawn(const char *path, char *const argv[], char *const envp[],
	       const int *fd_src, const int *fd_dst, int fd_count, int close_from,
	       int cgroup2_fd, int *pid, int *status_fd, int *err)
{
	/* The error pipe's write end goes above every fd the child keeps, so no dup2 clobbers it. */
	int pipe_fds[2];
	if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
		*err = errno;
		return -1;
	}
	int report_fd = fcntl(pipe_fds[1], F_DUPFD_CLOEXEC, close_from);
	int saved = errno;
	close(pipe_fds[1]);
	if (report_fd < 0) {
		close(pipe_fds[0]);
		*err = saved;
		return -1;
	}
	/* No signal may run a handler of the caller's in the child before it resets them. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);

	struct clone_args args;
	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	if (cgroup2_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgroup2_fd;
	}
	long child = syscall(SYS_clone3, &args, sizeof(args));
	if (child == 0) {
		for (int i = 0; i < fd_count; i++)
			if (dup2(fd_src[i], fd_dst[i]) < 0)
				report(report_fd, STEP_FDS);
		/* Everything from close_from up goes, but the error pipe (close-on-exec) until execve. */
		if (report_fd > close_from && syscall(SYS_close_range, close_from, report_fd - 1, 0) < 0)
			report(report_fd, STEP_FDS);
		if (syscall(SYS_close_range, report_fd + 1, ~0U, 0) < 0)
			report(report_fd, STEP_FDS);
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		for (int sig = 1; sig < NSIG; sig++)
			sigaction(sig, &dfl, NULL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(path, argv, envp);
		report(report_fd, STEP_EXEC);
	}
	int clone_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(report_fd);
	if (child < 0) {
		close(pipe_fds[0]);
		*err = clone_errno;
		return -1;
	}
	*pid = (int)child;
	*status_fd = pipe_fds[0];
	return 0;
}

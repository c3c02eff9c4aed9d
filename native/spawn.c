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
 * The child shares the caller's memory (CLONE_VM) but not its fds, and runs on a stack of its
 * own: a copy of the .NET process's page tables, and the copy-on-write faults the caller would
 * take afterwards on every page it writes, cost more than everything the child does (page
 * faults are expensive in VMs). Unlike posix_spawn the caller does not wait for the exec (no
 * CLONE_VFORK): a child started into a frozen cgroup never runs, and the caller's stall check
 * must be able to give up on it. So the child gets everything it reads (its stack, argv, envp,
 * the fd lists) in an arena of its own, which the caller unmaps only once the child has exec'd
 * or died (husk_spawn_release), and it makes raw system calls only: libc's wrappers would write
 * errno, the thread-local of the caller's thread, which runs on meanwhile. A failure comes back
 * through a close-on-exec pipe, whose read end the caller gets: end-of-file there means the exec
 * happened (or the child died after writing why).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* What failed in the child, for the caller's message; keep in sync with src/Husk/Linux/Spawner.cs. */
enum { STEP_FDS = 1, STEP_EXEC = 2 };

/* What the child needs, in its arena. */
struct spawn_job {
	char *path;
	char **argv, **envp;
	int *fd_src, *fd_dst;
	int fd_count, close_from, report_fd;
};

/* A system call without libc: returns -errno on failure and touches no thread-local. */
static long raw_syscall(long n, long a, long b, long c, long d)
{
	register long r10 __asm__("r10") = d;
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

static void __attribute__((noreturn)) report(int pipe_fd, int step, long rc)
{
	int msg[2] = { step, (int)-rc };
	raw_syscall(SYS_write, pipe_fd, (long)msg, sizeof(msg), 0);
	for (;;)
		raw_syscall(SYS_exit, 127, 0, 0, 0);
}

/* The child, on its own stack: fds in place, signals reset, execve. */
static int child_main(void *arg)
{
	const struct spawn_job *j = arg;
	long rc;
	for (int i = 0; i < j->fd_count; i++)
		if ((rc = raw_syscall(SYS_dup2, j->fd_src[i], j->fd_dst[i], 0, 0)) < 0)
			report(j->report_fd, STEP_FDS, rc);
	/* Everything from close_from up goes, but the error pipe (close-on-exec) until execve. */
	if (j->report_fd > j->close_from && (rc = raw_syscall(SYS_close_range, j->close_from, j->report_fd - 1, 0, 0)) < 0)
		report(j->report_fd, STEP_FDS, rc);
	if ((rc = raw_syscall(SYS_close_range, j->report_fd + 1, ~0U, 0, 0)) < 0)
		report(j->report_fd, STEP_FDS, rc);
	/* The kernel's struct sigaction: handler, flags, restorer, mask. */
	struct { long handler; unsigned long flags; long restorer; uint64_t mask; } dfl = { 0 /* SIG_DFL */, 0, 0, 0 };
	for (int sig = 1; sig < NSIG; sig++)
		raw_syscall(SYS_rt_sigaction, sig, (long)&dfl, 0, 8);
	uint64_t none = 0;
	raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, 8);
	rc = raw_syscall(SYS_execve, (long)j->path, (long)j->argv, (long)j->envp, 0);
	report(j->report_fd, STEP_EXEC, rc);
}

/*
 * clone3 with a stack of its own for the child: it starts on that stack with no frame to return
 * to, so the call of child_main and the exit are made here in assembly (as libc's clone does).
 * Returns the child's pid (in the caller) or -errno.
 */
static long clone3_on_stack(struct clone_args *args, int (*fn)(void *), void *arg)
{
	register long rax __asm__("rax") = SYS_clone3;
	register void *rdi __asm__("rdi") = args;
	register long rsi __asm__("rsi") = (long)sizeof(*args);
	register int (*r12)(void *) __asm__("r12") = fn;
	register void *r13 __asm__("r13") = arg;
	__asm__ volatile(
		"syscall\n\t"
		"test %%rax, %%rax\n\t"
		"jnz 1f\n\t"
		/* the child: a clean frame, fn(arg), exit with its result */
		"xor %%ebp, %%ebp\n\t"
		"mov %%r13, %%rdi\n\t"
		"call *%%r12\n\t"
		"mov %%eax, %%edi\n\t"
		"mov $60, %%eax\n\t"
		"syscall\n\t"
		"hlt\n\t"
		"1:\n\t"
		: "+r"(rax)
		: "r"(rdi), "r"(rsi), "r"(r12), "r"(r13)
		: "rcx", "r11", "memory");
	return rax;
}

#define STACK_SIZE (32 * 1024)

/* Bump allocation in the arena (8-byte aligned). */
static void *take(char **next, size_t n)
{
	void *p = *next;
	*next += (n + 7) & ~(size_t)7;
	return p;
}

static size_t vector_size(char *const v[], int *count)
{
	size_t n = 0;
	*count = 0;
	for (; v[*count]; (*count)++)
		n += ((strlen(v[*count]) + 1 + 7) & ~(size_t)7) + sizeof(char *);
	return n + sizeof(char *);
}

static char **copy_vector(char **next, char *const v[], int count)
{
	char **out = take(next, (size_t)(count + 1) * sizeof(char *));
	for (int i = 0; i < count; i++) {
		size_t len = strlen(v[i]) + 1;
		out[i] = memcpy(take(next, len), v[i], len);
	}
	out[count] = NULL;
	return out;
}

/*
 * Starts `path` with argv/envp. fd_src[i] becomes fd_dst[i] (sources must not collide with
 * targets), fds >= close_from are closed, signals are reset to default and unblocked.
 * cgroup2_fd >= 0: the child is made in that cgroup2 directory. Returns 0 with *pid, *status_fd
 * (the pipe: nothing, then end-of-file, once the child has exec'd; or two ints, the step that
 * failed and its errno) and the child's arena (*arena, *arena_size: husk_spawn_release it once
 * the status fd reached end-of-file, or never), or -1 with *err set when clone3 itself failed
 * (e.g. ENOSYS before Linux 5.7).
 */
int husk_spawn(const char *path, char *const argv[], char *const envp[],
	       const int *fd_src, const int *fd_dst, int fd_count, int close_from,
	       int cgroup2_fd, int *pid, int *status_fd, void **arena, size_t *arena_size, int *err)
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
	int argc, envc;
	size_t path_len = strlen(path) + 1;
	size_t size = STACK_SIZE + sizeof(struct spawn_job) + 2 * (size_t)fd_count * sizeof(int) + 16
		+ ((path_len + 7) & ~(size_t)7) + vector_size(argv, &argc) + vector_size(envp, &envc);
	size = (size + 4095) & ~(size_t)4095;
	char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		*err = errno;
		close(pipe_fds[0]);
		close(report_fd);
		return -1;
	}
	/* The stack first (it grows down, away from the rest), then what the child reads. */
	char *next = base + STACK_SIZE;
	struct spawn_job *job = take(&next, sizeof(*job));
	job->fd_src = take(&next, (size_t)fd_count * sizeof(int));
	job->fd_dst = take(&next, (size_t)fd_count * sizeof(int));
	memcpy(job->fd_src, fd_src, (size_t)fd_count * sizeof(int));
	memcpy(job->fd_dst, fd_dst, (size_t)fd_count * sizeof(int));
	job->path = memcpy(take(&next, path_len), path, path_len);
	job->argv = copy_vector(&next, argv, argc);
	job->envp = copy_vector(&next, envp, envc);
	job->fd_count = fd_count;
	job->close_from = close_from;
	job->report_fd = report_fd;

	/* No signal may run a handler of the caller's in the child before it resets them. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	struct clone_args args;
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_VM;
	args.exit_signal = SIGCHLD;
	args.stack = (uint64_t)(uintptr_t)base;
	args.stack_size = STACK_SIZE;
	if (cgroup2_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgroup2_fd;
	}
	long child = clone3_on_stack(&args, child_main, job);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(report_fd);
	if (child < 0) {
		munmap(base, size);
		close(pipe_fds[0]);
		*err = (int)-child;
		return -1;
	}
	*pid = (int)child;
	*status_fd = pipe_fds[0];
	*arena = base;
	*arena_size = size;
	return 0;
}

/* Unmaps a child's arena: only once it has exec'd or died (its status fd reached end-of-file). */
void husk_spawn_release(void *arena, size_t arena_size)
{
	munmap(arena, arena_size);
}

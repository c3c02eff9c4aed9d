/*
 * startfds.c - which fds were open when husk started.
 *
 * Why C: `--preserve-fds N` (and LISTEN_FDS) pass fds 3..3+N-1 to the container, and only the
 * caller's may go. The .NET runtime opens fds of its own before and around Main (/dev/urandom,
 * dups of stdout and stderr, a signal pipe), and Husk opens more (the state directory and its
 * lock, the exec fifo, the init's socket, the container's cgroup directory, the --log file);
 * where the caller left a number closed, one of those takes it. A constructor runs before the
 * runtime starts, while the fd table is still exactly what the caller gave. It only records;
 * the managed side decides (Native.CheckOpenAtStart).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HUSK_START_FDS_MAX 4096 /* Native.CheckOpenAtStart's message names it */

static unsigned char open_at_start[HUSK_START_FDS_MAX / 8];
static int recorded;

struct linux_dirent64 {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Whether this command can pass fds on by number: socket activation (LISTEN_FDS) or a
 * --preserve-fds flag (runc's parser also takes it with one dash). Only then is the scan worth
 * its system calls. */
static int passes_fds(int argc, char **argv)
{
	if (getenv("LISTEN_FDS"))
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		while (*a == '-')
			a++;
		if (a != argv[i] && strncmp(a, "preserve-fds", 12) == 0 && (a[12] == '\0' || a[12] == '='))
			return 1;
	}
	return 0;
}

/* glibc passes a constructor the program's argc, argv and envp. */
__attribute__((constructor)) static void husk_record_start_fds(int argc, char **argv)
{
	/* `husk init`: its fds were placed by husk itself, and it passes none on by number. */
	if (getenv("_HUSK_INITPIPE") || !passes_fds(argc, argv))
		return;
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return;
	char buf[4096];
	long n;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
			off += d->d_reclen;
			int fd = 0;
			const char *c = d->d_name;
			if (*c < '0' || *c > '9')
				continue;
			for (; *c >= '0' && *c <= '9' && fd < HUSK_START_FDS_MAX; c++)
				fd = fd * 10 + (*c - '0');
			if (*c == '\0' && fd != dir && fd < HUSK_START_FDS_MAX)
				open_at_start[fd / 8] |= (unsigned char)(1u << (fd % 8));
		}
	}
	recorded = n == 0;
	close(dir);
}

/* 1: fd was open when husk started; 0: it was not; -1: not known (no /proc, or fd out of range). */
int husk_fd_open_at_start(int fd)
{
	if (!recorded || fd < 0 || fd >= HUSK_START_FDS_MAX)
		return -1;
	return (open_at_start[fd / 8] >> (fd % 8)) & 1;
}

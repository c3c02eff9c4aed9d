/*
 * nsexec.c - the only C in Husk.
 *
 * Why C: a .NET process always has several threads, and the kernel refuses
 * unshare(CLONE_NEWUSER) and setns() into mount/user namespaces for multi-threaded
 * callers (other kinds move only the calling thread). This constructor is linked into
 * the NativeAOT binary and runs while the process still has exactly one thread, before
 * the .NET runtime starts - the same trick as runc's nsexec before Go.
 *
 * What it does (and nothing more: it makes no policy decisions, the managed parent
 * decides everything and sends it here as data):
 *   1. If _HUSK_INITPIPE is not set, return at once: this is a normal `husk` command.
 *   2. Read the bootstrap message from the pipe (a socket shared with `husk create`); become
 *      non-dumpable (dumpable again only while the parent writes our uid/gid maps); open the
 *      host's /proc for the managed init (_HUSK_PROCFD).
 *   3. Move into the container's cgroup v1 hierarchies: "0" written to each `tasks` file the
 *      bootstrap names. A single-threaded process moving itself this way skips the global
 *      lock (and its RCU grace period) that a move by pid takes; the runtime's threads, made
 *      later, inherit the cgroups. (cgroup v2: the process was started inside, native/spawn.c.)
 *   4. Write oom_score_adj (before a new user namespace makes lowering it impossible).
 *   5. Open every namespace path to join, then setns() into them, the user namespace first.
 *   6. If asked for a new user namespace: unshare it, ask the parent to write
 *      uid_map/gid_map, wait for its answer, become uid/gid 0 inside.
 *   7. unshare() every other new namespace; write time namespace offsets.
 *   8. A new pid or time namespace only applies to children: fork; the parent reports
 *      the child's pid and exits; the child carries on.
 *   9. With a plan in the bootstrap (REC_PLAN), run it (plan.c): it execs the container's program
 *      and never returns. Else return: the .NET runtime starts and managed `husk init` continues.
 * Errors are sent to the parent as one line of text, then the process exits; nothing is
 * printed, because stdio belongs to the container.
 *
 * Wire format (both directions): u32 type, u32 length, then length bytes of payload.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plan.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif



/* Bootstrap records: u16 type, u16 unused, u32 length, payload. */
enum {
	REC_CLONE_FLAGS = 1,    /* u32: CLONE_NEW* flags to unshare */
	REC_NS_PATH = 2,        /* u32 CLONE_NEW* type, then a NUL-terminated path to setns into */
	REC_OOM_SCORE_ADJ = 3,  /* text written to /proc/self/oom_score_adj */
	REC_TIMENS_OFFSETS = 4, /* text written to /proc/self/timens_offsets */
	REC_CGROUP_TASKS = 6,   /* NUL-terminated path of a cgroup v1 tasks file to move into */
	REC_PLAN = 7,           /* the whole init as operations (plan.c): no .NET runtime in the init */
};

#define MAX_NS_PATHS 16
#define MAX_CGROUPS 32

static int sync_fd = -1;

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void send_msg(uint32_t type, const void *payload, uint32_t len)
{
	uint32_t hdr[2] = { type, len };
	if (husk_write_all(sync_fd, hdr, sizeof(hdr)) < 0 || (len && husk_write_all(sync_fd, payload, len) < 0))
		_exit(1);
}

/* Report "what: strerror(errno)" to the parent and exit. */
static void __attribute__((noreturn, format(printf, 1, 2))) bail(const char *fmt, ...)
{
	char msg[512];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(msg) && saved)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(saved));
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	send_msg(MSG_ERROR, msg, (uint32_t)n);
	_exit(1);
}

static void write_proc_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		bail("nsexec: open %s", path);
	if (husk_write_all(fd, data, len) < 0)
		bail("nsexec: write %s", path);
	close(fd);
}

static const char *ns_name(uint32_t type)
{
	switch (type) {
	case CLONE_NEWUSER: return "user";
	case CLONE_NEWNS: return "mount";
	case CLONE_NEWPID: return "pid";
	case CLONE_NEWNET: return "network";
	case CLONE_NEWIPC: return "ipc";
	case CLONE_NEWUTS: return "uts";
	case CLONE_NEWCGROUP: return "cgroup";
	case CLONE_NEWTIME: return "time";
	default: return "unknown";
	}
}

struct bootstrap {
	uint32_t clone_flags;
	int ns_count;
	uint32_t ns_type[MAX_NS_PATHS];
	const char *ns_path[MAX_NS_PATHS];
	const char *oom_score_adj; size_t oom_len;
	const char *timens_offsets; size_t timens_len;
	int cgroup_count;
	const char *cgroup_tasks[MAX_CGROUPS];
	char *plan; uint32_t plan_len;
};

static void parse_bootstrap(char *buf, uint32_t len, struct bootstrap *b)
{
	uint32_t off = 0;
	memset(b, 0, sizeof(*b));
	while (off + 8 <= len) {
		uint16_t type;
		uint32_t rlen;
		memcpy(&type, buf + off, 2);
		memcpy(&rlen, buf + off + 4, 4);
		off += 8;
		if (rlen > len - off) {
			errno = 0;
			bail("nsexec: truncated bootstrap record");
		}
		char *p = buf + off;
		switch (type) {
		case REC_CLONE_FLAGS:
			if (rlen == 4)
				memcpy(&b->clone_flags, p, 4);
			break;
		case REC_NS_PATH:
			if (rlen > 5 && b->ns_count < MAX_NS_PATHS && p[rlen - 1] == '\0') {
				memcpy(&b->ns_type[b->ns_count], p, 4);
				b->ns_path[b->ns_count++] = p + 4;
			}
			break;
		case REC_OOM_SCORE_ADJ:
			b->oom_score_adj = p;
			b->oom_len = rlen;
			break;
		case REC_TIMENS_OFFSETS:
			b->timens_offsets = p;
			b->timens_len = rlen;
			break;
		case REC_CGROUP_TASKS:
			if (rlen > 1 && b->cgroup_count < MAX_CGROUPS && p[rlen - 1] == '\0')
				b->cgroup_tasks[b->cgroup_count++] = p;
			break;
		case REC_PLAN:
			b->plan = p;
			b->plan_len = rlen;
			break;
		}
		off += rlen;
	}
}

/* Enter the namespaces named by path: open them all first (a mount namespace change could
 * hide later paths), then join the user namespace first so the others are permitted. */
static void join_namespaces(const struct bootstrap *b)
{
	int fds[MAX_NS_PATHS];
	for (int i = 0; i < b->ns_count; i++) {
		fds[i] = open(b->ns_path[i], O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			bail("nsexec: open %s namespace %s", ns_name(b->ns_type[i]), b->ns_path[i]);
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < b->ns_count; i++) {
			int is_user = b->ns_type[i] == CLONE_NEWUSER;
			if ((pass == 0) != is_user)
				continue;
			if (setns(fds[i], (int)b->ns_type[i]) < 0)
				bail("nsexec: join %s namespace %s", ns_name(b->ns_type[i]), b->ns_path[i]);
			close(fds[i]);
		}
	}
}

/* Become uid/gid 0 of the user namespace we are now in (the container's root; the managed
 * init switches to process.user later). Needed for a joined one too: our host uid is not
 * mapped there, and files or mounts made with an unmapped owner fail (EOVERFLOW). */
static void become_root(const char *which)
{
	if (setresgid(0, 0, 0) < 0)
		bail("nsexec: setresgid(0) in the %s user namespace", which);
	if (setresuid(0, 0, 0) < 0)
		bail("nsexec: setresuid(0) in the %s user namespace", which);
}

static void set_dumpable(int dumpable)
{
	if (prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0) < 0)
		bail("nsexec: prctl(PR_SET_DUMPABLE, %d)", dumpable);
}

static void new_user_namespace(void)
{
	if (unshare(CLONE_NEWUSER) < 0)
		bail("nsexec: unshare user namespace");
	/* Our /proc/PID files belong to our own uid only while we are dumpable: an unprivileged
	 * parent (rootless) could not open uid_map, setgroups and gid_map otherwise (as runc).
	 * Nothing in the container can see us yet: our pid namespace is still the caller's. */
	set_dumpable(1);
	int32_t pid = getpid();
	send_msg(MSG_USERMAP_REQ, &pid, sizeof(pid));
	uint32_t hdr[2];
	if (read_all(sync_fd, hdr, sizeof(hdr)) < 0 || hdr[0] != MSG_USERMAP_ACK)
		_exit(1); /* the parent failed and reports why */
	set_dumpable(0);
	become_root("new");
}

__attribute__((constructor)) static void husk_nsexec(void)
{
	const char *fdstr = getenv("_HUSK_INITPIPE");
	if (!fdstr)
		return;
	sync_fd = atoi(fdstr);

	uint32_t hdr[2];
	if (read_all(sync_fd, hdr, sizeof(hdr)) < 0 || hdr[0] != MSG_BOOTSTRAP || hdr[1] > (1u << 20))
		_exit(1);
	char *buf = malloc(hdr[1] + 1);
	if (!buf || read_all(sync_fd, buf, hdr[1]) < 0)
		_exit(1);
	struct bootstrap b;
	parse_bootstrap(buf, hdr[1], &b);

	/* Non-dumpable until execve (CVE-2016-9962, as runc): once in the container's namespaces,
	 * a process there with our uid and capabilities could otherwise ptrace us, or read our
	 * fds, environment and memory through /proc, between the capability drop and execve.
	 * execve makes the program dumpable again by the kernel's rules. */
	if (b.clone_flags || b.ns_count)
		set_dumpable(0);

	/* The host's procfs, opened before any namespace is entered: the managed init writes sysctls
	 * and LSM attributes through it (Husk.Linux.ProcFs), never through the container's /proc,
	 * which the container shapes (CVE-2025-52881). Close-on-exec; its number goes in the
	 * environment, which the container's program never gets (its env is the spec's). */
	int procfs = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct statfs procfs_st;
	if (procfs < 0 || fstatfs(procfs, &procfs_st) < 0)
		bail("nsexec: open /proc");
	if (procfs_st.f_type != PROC_SUPER_MAGIC) {
		errno = 0;
		bail("nsexec: /proc is not a procfs");
	}
	char procfs_env[16];
	snprintf(procfs_env, sizeof(procfs_env), "%d", procfs);
	if (setenv("_HUSK_PROCFD", procfs_env, 1) < 0)
		bail("nsexec: setenv");

	for (int i = 0; i < b.cgroup_count; i++)
		write_proc_file(b.cgroup_tasks[i], "0", 1);

	if (b.oom_score_adj)
		write_proc_file("/proc/self/oom_score_adj", b.oom_score_adj, b.oom_len);

	join_namespaces(&b);

	int joins_user = 0;
	for (int i = 0; i < b.ns_count; i++)
		joins_user |= b.ns_type[i] == CLONE_NEWUSER;

	if (b.clone_flags & CLONE_NEWUSER)
		new_user_namespace();
	else if (joins_user)
		become_root("joined");

	uint32_t rest = b.clone_flags & ~(uint32_t)CLONE_NEWUSER;
	if (rest && unshare((int)rest) < 0)
		bail("nsexec: unshare namespaces 0x%x", rest);

	if ((b.clone_flags & CLONE_NEWTIME) && b.timens_offsets) {
		/* Non-dumpable, our /proc files belong to the host's root, which a new user namespace
		 * does not map: open() would fail with EACCES. Be dumpable just for this write (nothing
		 * in the container can see us yet: our pid namespace is still the caller's). */
		set_dumpable(1);
		write_proc_file("/proc/self/timens_offsets", b.timens_offsets, b.timens_len);
		set_dumpable(0);
	}

	int joins_pid = 0;
	for (int i = 0; i < b.ns_count; i++)
		joins_pid |= b.ns_type[i] == CLONE_NEWPID;

	int32_t init_pid = getpid();
	if ((b.clone_flags & (CLONE_NEWPID | CLONE_NEWTIME)) || joins_pid) {
		/* The init goes on only once its pid is reported: whatever it sends next must come after. */
		int reported[2];
		if (pipe2(reported, O_CLOEXEC) < 0)
			bail("nsexec: pipe");
		pid_t child = fork();
		if (child < 0)
			bail("nsexec: fork into the new pid namespace");
		if (child > 0) {
			/* The intermediate process: report the init and leave; `husk create` reaps us. */
			init_pid = child;
			send_msg(MSG_CHILD_PID, &init_pid, sizeof(init_pid));
			_exit(0);
		}
		close(reported[1]);
		char end;
		while (read(reported[0], &end, 1) < 0 && errno == EINTR)
			;
		close(reported[0]);
	} else {
		send_msg(MSG_CHILD_PID, &init_pid, sizeof(init_pid));
	}
	/* The container init: with a plan, plan.c is the whole init; else return into the .NET
	 * runtime, which runs `husk init`. */
	if (b.plan)
		husk_run_plan(b.plan, b.plan_len, sync_fd, procfs);
	free(buf);
}

/*
 * plan.c - the container init without the .NET runtime.
 *
 * Why C: starting the .NET runtime a second time, in the container's init, costs about as much
 * as everything else the init does, and its image stays resident while a created container
 * waits for `start`. For the containers it can serve, `husk create` compiles the whole init
 * into a flat list of operations (Husk.Container.Launch.InitPlan) and sends it in the
 * bootstrap; nsexec.c hands it here once the init is in its namespaces, and this never returns
 * into the runtime: it executes the list, tells the parent it is ready, waits on the exec fifo
 * and execs the program.
 *
 * What it does not do: decide. Every path, flag, mode, capability mask and error text comes in
 * the plan; the parent looked at the image and refused the plan where a decision would be
 * needed here (the managed init then serves that container). Paths inside the rootfs are opened
 * with openat2(RESOLVE_IN_ROOT), and mount destinations also with RESOLVE_NO_SYMLINKS: a
 * rootfs changed after the parent looked makes an operation fail, never land elsewhere.
 *
 * Wire format of one operation (little-endian): u32 code, i32 i[4], u64 u[5], then five
 * strings, each u32 length then that many bytes, the last of them a NUL (length 0: absent); a
 * seccomp program travels in the first string's place (its length in i[0], in instructions).
 * Registers hold fds (-1: none; an operation on -1 does nothing: an optional path was missing).
 * Errors before READY go to the parent as one line (MSG_ERROR), as do those after a READY that
 * keeps the channel (`husk exec`); after any other READY, as the managed init, into the exec
 * fifo for `start` and to stderr, and the init exits 127.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "plan.h"

/* Operation codes; keep in sync with src/Husk/Container/Launch/InitPlan.cs. */
enum {
	OP_SETSID = 1, OP_KEYRING, OP_MOUNT, OP_OPEN, OP_MKDIR_ALL, OP_CLOSE, OP_FCHMOD, OP_MKNOD,
	OP_SYMLINK, OP_SETATTR, OP_BIND_READONLY, OP_MASK, OP_CHECK_DEVNULL, OP_NOT_SYMLINK,
	OP_PIVOT, OP_REMOUNT, OP_READONLY_ROOT, OP_UMASK, OP_HOSTNAME, OP_DOMAINNAME,
	OP_WRITE_PROC, OP_RLIMIT, OP_MAKE_CWD, OP_ARG, OP_ENV, OP_CWD, OP_LOOKPATH, OP_READY,
	OP_WAIT_FIFO, OP_FIX_STDIO, OP_USER, OP_GROUP, OP_NO_NEW_PRIVS, OP_EXEC, OP_BIND, OP_SECCOMP,
};

#define MAX_REGS 64
#define MAX_ARGS 4096
#define MAX_GROUPS 256
#define PIPEFS_MAGIC 0x50495045
#define SOCKFS_MAGIC 0x534F434B

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x1
#define MOUNT_ATTR_NOSUID 0x2
#define MOUNT_ATTR_NODEV 0x4
#define MOUNT_ATTR_NOEXEC 0x8
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x4
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#endif
#ifndef FSCONFIG_CMD_CREATE
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct mount_attr_args { uint64_t attr_set, attr_clr, propagation, userns_fd; };

struct op {
	uint32_t code;
	int32_t i[4];
	uint64_t u[5];
	const char *s[5];
};

static int sync_fd = -1, procfs_fd = -1, fifo_fd = -1, ready, keep_channel;
/* A seccomp filter left for exec_process to load right before execve (no_new_privs set); its
 * strings stay in the plan's buffer. */
static struct op exec_filter;
static int has_exec_filter;
static int regs[MAX_REGS];
static char *argv_[MAX_ARGS + 1], *envp_[MAX_ARGS + 1];
static int argc_, envc_;
static const char *cwd_;
static int cwd_entered;
static gid_t groups_[MAX_GROUPS];
static int ngroups_;

int husk_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* "what: strerror(errno)" (errno 0: "what" alone) to whoever waits for the outcome; exit. */
static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	char msg[1024];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(msg) - 2 && saved)
		n += snprintf(msg + n, sizeof(msg) - 2 - (size_t)n, ": %s", strerror(saved));
	if ((size_t)n >= sizeof(msg) - 2)
		n = sizeof(msg) - 3;
	if (!ready || keep_channel) {
		uint32_t hdr[2] = { MSG_ERROR, (uint32_t)n };
		if (husk_write_all(sync_fd, hdr, sizeof(hdr)) == 0)
			(void)husk_write_all(sync_fd, msg, (size_t)n);
		_exit(ready ? 127 : 1);
	}
	/* As the managed init after create returned: one line for `start`, and the container's stderr. */
	msg[n] = '\n';
	if (fifo_fd >= 0)
		(void)husk_write_all(fifo_fd, msg, (size_t)n + 1);
	(void)husk_write_all(2, "husk: ", 6);
	(void)husk_write_all(2, msg, (size_t)n + 1);
	_exit(127);
}

static int reg(int32_t r)
{
	if (r < 0 || r >= MAX_REGS) {
		errno = 0;
		fail("init plan: register %d out of range", r);
	}
	return regs[r];
}

static void set_reg(int32_t r, int fd)
{
	if (reg(r) >= 0)
		close(regs[r]);
	regs[r] = fd;
}

static const char *fd_path(int fd, char buf[32])
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
	return buf;
}

static int open_in(int dir, const char *path, uint64_t flags, uint64_t resolve, mode_t mode)
{
	struct open_how how = { .flags = flags | O_CLOEXEC, .mode = mode, .resolve = resolve };
	return (int)syscall(SYS_openat2, dir, path, &how, sizeof(how));
}

static int sys_open_tree(int dfd, const char *path, unsigned flags)
{
	return (int)syscall(SYS_open_tree, dfd, path, flags);
}

static int sys_move_mount(int from, int to)
{
	return (int)syscall(SYS_move_mount, from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

static int sys_mount_setattr(int fd, unsigned flags, uint64_t set, uint64_t clear)
{
	struct mount_attr_args a = { .attr_set = set, .attr_clr = clear };
	return (int)syscall(SYS_mount_setattr, fd, "", flags, &a, sizeof(a));
}

/* ---- the parts of the init that are more than one call ---- */

/* mkdir -p below root: each component opened with `resolve` (the plan's: in the root, no
 * symlinks), made (0755 as asked) where missing. Returns an O_PATH fd of the directory.
 * (A component that is a symlink or not a directory fails the open of its prefix: ELOOP, ENOTDIR.) */
static int mkdir_all(int root, const char *path, mode_t mode, uint64_t resolve, const char *what)
{
	int fd = open_in(root, path, O_PATH | O_DIRECTORY, resolve, 0);
	if (fd >= 0 || errno != ENOENT) {
		if (fd < 0)
			fail("%s", what);
		return fd;
	}
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		fail("%s", what);
	}
	/* Mostly only the last component is missing: start from the longest prefix that exists
	 * (opened with the same resolve flags as the whole path was), make the rest one by one. */
	int parent = -1;
	char *rest = buf;
	for (size_t i = strlen(buf); i-- > 0 && parent < 0;) {
		if (buf[i] != '/' || i == 0)
			continue;
		buf[i] = '\0';
		parent = open_in(root, buf, O_PATH | O_DIRECTORY, resolve, 0);
		buf[i] = '/';
		if (parent >= 0)
			rest = buf + i + 1;
		else if (errno != ENOENT)
			fail("%s", what);
	}
	if (parent < 0)
		parent = open_in(root, ".", O_PATH | O_DIRECTORY, resolve, 0);
	if (parent < 0)
		fail("%s", what);
	char *save = NULL;
	for (char *c = strtok_r(rest, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		/* Every component left was missing (EEXIST: made meanwhile). mkdirat never follows a
		 * symlink in its last component: this lands in parent. */
		if (mkdirat(parent, c, mode) < 0 && errno != EEXIST)
			fail("%s", what);
		int next = open_in(parent, c, O_PATH | O_DIRECTORY, resolve, 0);
		if (next < 0)
			fail("%s", what);
		close(parent);
		parent = next;
	}
	return parent;
}

/* runc's pivot_root(".", "."): the old root ends up on top of the new one, is made rslave and detached. */
static void pivot(const char *rootfs)
{
	int old_root = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (old_root < 0)
		fail("open /");
	int new_root = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (new_root < 0)
		fail("open %s", rootfs);
	if (fchdir(new_root) < 0)
		fail("chdir %s", rootfs);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail("pivot_root %s", rootfs);
	close(new_root);
	if (fchdir(old_root) < 0)
		fail("chdir to old root");
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		fail("make old root rslave");
	if (umount2(".", MNT_DETACH) < 0)
		fail("unmount old root");
	close(old_root);
	if (chdir("/") < 0)
		fail("chdir /");
}

/* A read-only (nosuid, nodev, noexec) recursive bind of the file at fd onto itself. Plans run only
 * where openat2 (5.6) exists, so the new mount API (5.2) does too; mount_setattr (5.12) may not:
 * then a bind and a remount through /proc/self/fd, as RootfsSetup.BindReadonly does. */
static void bind_readonly(int fd, const char *what)
{
	const uint64_t attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
	int tree = sys_open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
	if (tree < 0)
		fail("%s", what);
	if (sys_mount_setattr(tree, AT_EMPTY_PATH | AT_RECURSIVE, attrs, 0) == 0) {
		if (sys_move_mount(tree, fd) < 0)
			fail("%s", what);
		close(tree);
		return;
	}
	if (errno != ENOSYS)
		fail("%s", what);
	close(tree);
	char p[32], q[32];
	if (mount(fd_path(fd, p), fd_path(fd, q), NULL, MS_BIND | MS_REC, NULL) < 0)
		fail("%s", what);
	int top = open(fd_path(fd, p), O_PATH | O_CLOEXEC);
	if (top < 0 || mount(NULL, fd_path(top, p), NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		fail("%s", what);
	close(top);
}

/* A bind mount, as RootfsSetup.AttachBindClone: the host's source (its type as the plan expects:
 * 1 a directory, 2 not one, 0 any) cloned (recursively when asked), its flags and then the
 * recursive attributes set while detached, attached at i[0]. The attached clone's fd goes to
 * register i[3] (-1: closed), for its propagation. */
static void bind_clone(const struct op *o)
{
	const char *what = o->s[4];
	int src = open(o->s[0], O_PATH | O_CLOEXEC);
	if (src < 0)
		fail("%s", what);
	struct stat st;
	if (o->i[2] && (fstat(src, &st) < 0 || (S_ISDIR(st.st_mode) ? 1 : 2) != o->i[2])) {
		errno = 0;
		fail("%s: the source changed while the container was created", what);
	}
	int tree = sys_open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (o->i[1] ? AT_RECURSIVE : 0));
	if (tree < 0)
		fail("%s", what);
	close(src);
	if (sys_mount_setattr(tree, AT_EMPTY_PATH, o->u[0], o->u[1]) < 0)
		fail("%s: set mount attributes", what);
	if ((o->u[2] || o->u[3]) && sys_mount_setattr(tree, AT_EMPTY_PATH | AT_RECURSIVE, o->u[2], o->u[3]) < 0)
		fail("%s: set recursive mount attributes", what);
	if (sys_move_mount(tree, reg(o->i[0])) < 0)
		fail("%s", what);
	if (o->i[3] >= 0)
		set_reg(o->i[3], tree);
	else
		close(tree);
}

/* seccomp(2) of the op's program; EACCES gets the op's hint (s[1]) after the error. */
static void load_filter(const struct op *o)
{
	struct sock_fprog prog = { .len = (unsigned short)o->i[0], .filter = (struct sock_filter *)o->s[0] };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned)o->u[0], &prog) == 0)
		return;
	if (errno != EACCES || !o->s[1])
		fail("%s", o->s[4]);
	errno = 0;
	fail("%s: %s%s", o->s[4], strerror(EACCES), o->s[1]);
}

/* A masked path: an empty read-only tmpfs over a directory, the container's /dev/null over anything
 * else (fsopen and open_tree exist wherever plans run, see bind_readonly). */
static void mask(int fd, int devnull, const char *what)
{
	struct stat st;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		fail("%s: stat", what);
	int mnt;
	if (S_ISDIR(st.st_mode)) {
		int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
		if (fs < 0 || syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
			fail("%s", what);
		mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
		close(fs);
	} else {
		mnt = sys_open_tree(devnull, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	}
	if (mnt < 0 || sys_move_mount(mnt, fd) < 0)
		fail("%s", what);
	close(mnt);
}

/* MS_REMOUNT by path; EBUSY (something being written) is retried as runc does. */
static void remount(const char *path, uint64_t flags, const char *what)
{
	for (int i = 0;; i++) {
		if (mount(NULL, path, NULL, flags, NULL) == 0)
			return;
		if (errno != EBUSY || i >= 5)
			fail("%s", what);
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/* root.readonly: / read-only, keeping the flags it has (some may be locked). */
static void readonly_root(void)
{
	if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) == 0)
		return;
	struct statfs st;
	if (statfs("/", &st) < 0)
		fail("remount / read-only");
	unsigned long keep = (unsigned long)st.f_flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME);
	if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL) < 0)
		fail("remount / read-only");
}

/* A device node; one the image has already stays. Refused (EPERM): the host's node bound onto an empty file. */
static void make_device(const struct op *o)
{
	int dir = reg(o->i[1]);
	/* Device modes are exact, not filtered by the init's umask. */
	mode_t old_mask = umask(0);
	int made = mknodat(dir, o->s[0], (mode_t)o->u[0], (dev_t)o->u[1]);
	int saved = errno;
	umask(old_mask);
	errno = saved;
	if (made == 0) {
		if (fchownat(dir, o->s[0], (uid_t)o->i[2], (gid_t)o->i[3], AT_SYMLINK_NOFOLLOW) < 0)
			fail("%s: chown", o->s[4]);
		return;
	}
	if (errno == EEXIST)
		return;
	if (errno != EPERM)
		fail("%s", o->s[4]);
	int src = open(o->s[1], O_PATH | O_CLOEXEC);
	if (src < 0)
		fail("%s: bind from host", o->s[4]);
	int dst = openat(dir, o->s[0], O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	char p[32], q[32];
	if (dst < 0 || mount(fd_path(src, p), fd_path(dst, q), NULL, MS_BIND, NULL) < 0)
		fail("%s: bind from host", o->s[4]);
	close(dst);
	close(src);
}

/* runc's session keyring: join "_ses.<id>", then add the search permission the plan names. */
static void join_keyring(const char *name, uint64_t bits)
{
	long key = syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, name);
	if (key < 0) {
		if (errno == ENOSYS)
			return;
		fail("unable to join session keyring \"%s\"", name);
	}
	char desc[512];
	long n = syscall(SYS_keyctl, 6 /* KEYCTL_DESCRIBE */, key, desc, sizeof(desc));
	if (n < 0 || n > (long)sizeof(desc))
		fail("unable to describe session keyring \"%s\"", name);
	desc[sizeof(desc) - 1] = '\0';
	/* "keyring;0;0;3f010000;_ses.id": the fourth field is the permission mask in hex. */
	char *f = desc;
	for (int i = 0; i < 3 && f; i++)
		if ((f = strchr(f, ';')))
			f++;
	errno = 0;
	if (!f)
		fail("unable to parse the permissions of session keyring \"%s\"", name);
	unsigned long perm = strtoul(f, NULL, 16);
	if (syscall(SYS_keyctl, 5 /* KEYCTL_SETPERM */, key, perm | bits) < 0)
		fail("unable to mod keyring permissions of \"%s\"", name);
}

/* The process's environment's PATH (the last one wins, as getenv of the new image). */
static const char *env_path(void)
{
	const char *path = "";
	for (int i = 0; i < envc_; i++)
		if (strncmp(envp_[i], "PATH=", 5) == 0)
			path = envp_[i] + 5;
	return path;
}

static int executable_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

/* Go's exec.LookPath, as the managed init: arg0 itself when it has a '/', else the first
 * executable regular file of that name in PATH (relative entries taken from the cwd). */
static const char *look_path(char *buf, size_t size)
{
	const char *arg0 = argc_ > 0 ? argv_[0] : "";
	errno = 0;
	if (!*arg0)
		fail("exec: no command: args[0] is empty");
	const char *cwd = cwd_ && *cwd_ == '/' ? cwd_ : "/";
	if (strchr(arg0, '/')) {
		if (*arg0 == '/')
			snprintf(buf, size, "%s", arg0);
		else
			snprintf(buf, size, "%s/%s", cwd, arg0);
		if (!executable_file(buf)) {
			errno = 0;
			fail("exec: \"%s\": no such executable file", arg0);
		}
		return arg0;
	}
	const char *p = env_path();
	for (;;) {
		const char *end = strchrnul(p, ':');
		int len = (int)(end - p);
		if (len == 0)
			snprintf(buf, size, "%s/%s", cwd, arg0);
		else if (*p == '/')
			snprintf(buf, size, "%.*s/%s", len, p, arg0);
		else
			snprintf(buf, size, "%s/%.*s/%s", cwd, len, p, arg0);
		if (executable_file(buf))
			return buf;
		if (!*end)
			break;
		p = end + 1;
	}
	errno = 0;
	fail("exec: \"%s\": executable file not found in $PATH", arg0);
}

/* The CVE-2024-21626 check: the cwd must be inside this process's root. */
static void verify_cwd(void)
{
	char buf[4096];
	if (!getcwd(buf, sizeof(buf))) {
		if (errno == ERANGE)
			return;
		if (errno == ENOENT) {
			errno = 0;
			fail("current working directory is outside of container mount namespace root -- possible container breakout detected");
		}
		fail("getcwd");
	}
	errno = 0;
	if (buf[0] != '/')
		fail("current working directory is outside of container mount namespace root -- possible container breakout detected");
}

static void enter_cwd(void)
{
	if (chdir(cwd_) < 0)
		fail("chdir to cwd (\"%s\") set in config.json failed", cwd_);
	verify_cwd();
	cwd_entered = 1;
}

/* runc's finalizeNamespace (as ProcessSteps.ApplyUserAndCapabilities). */
static void set_user_and_caps(const struct op *o)
{
	int pdeath = 0;
	prctl(PR_GET_PDEATHSIG, &pdeath);
	int chdir_later = 0;
	if (cwd_ && *cwd_) {
		if (chdir(cwd_) == 0) {
			verify_cwd();
			cwd_entered = 1;
		} else if (errno == EPERM || errno == EACCES) {
			chdir_later = 1;
		} else {
			fail("chdir to cwd (\"%s\") set in config.json failed", cwd_);
		}
	}
	int last_cap = o->i[2];
	for (int cap = 0; cap <= last_cap && cap < 64; cap++) {
		if (o->u[0] & (1ULL << cap))
			continue;
		int in_set = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in_set == 0 || (in_set < 0 && errno == EINVAL))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			fail("drop capability %d from the bounding set", cap);
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail("prctl(PR_SET_KEEPCAPS)");
	/* Raw system calls: the credentials of this (only) thread, as the managed init. */
	if (syscall(SYS_setgroups, ngroups_, groups_) < 0)
		fail("setgroups");
	if (syscall(SYS_setresgid, o->i[1], o->i[1], o->i[1]) < 0)
		fail("setresgid to gid %u", (unsigned)o->i[1]);
	if (syscall(SYS_setresuid, o->i[0], o->i[0], o->i[0]) < 0)
		fail("setresuid to uid %u", (unsigned)o->i[0]);
	if (chdir_later)
		enter_cwd();
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		fail("prctl(PR_SET_KEEPCAPS)");
	struct { uint32_t version; int pid; } hdr = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
	struct { uint32_t effective, permitted, inheritable; } data[2];
	uint64_t eff = o->u[1] & o->u[2], perm = o->u[2], inh = o->u[3];
	data[0].effective = (uint32_t)eff; data[1].effective = (uint32_t)(eff >> 32);
	data[0].permitted = (uint32_t)perm; data[1].permitted = (uint32_t)(perm >> 32);
	data[0].inheritable = (uint32_t)inh; data[1].inheritable = (uint32_t)(inh >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail("apply capabilities (capset)");
	uint64_t ambient = o->u[4];
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
		if (!(errno == EINVAL && ambient == 0))
			fail("clear ambient capabilities");
	} else {
		/* A capability that cannot be raised is left out, as runc (which warns). */
		for (int cap = 0; cap < 64; cap++)
			if (ambient & (1ULL << cap))
				prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
	}
	if (pdeath && prctl(PR_SET_PDEATHSIG, pdeath, 0, 0, 0) < 0)
		fail("prctl(PR_SET_PDEATHSIG)");
}

/* Anonymous pipes and sockets given as stdio become the user's (StdioOwnership). */
static void fix_stdio(uid_t uid)
{
	for (int fd = 0; fd <= 2; fd++) {
		struct stat st;
		struct statfs fs;
		if (fstat(fd, &st) < 0 || st.st_uid == uid || fstatfs(fd, &fs) < 0)
			continue;
		if ((fs.f_type == PIPEFS_MAGIC && S_ISFIFO(st.st_mode)) || (fs.f_type == SOCKFS_MAGIC && S_ISSOCK(st.st_mode)))
			(void)!fchown(fd, uid, (gid_t)-1);
	}
}

static void wait_fifo(int fd)
{
	fifo_fd = fd;
	char b;
	for (;;) {
		ssize_t n = read(fd, &b, 1);
		if (n == 1)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		errno = 0;
		fail("exec fifo closed before start");
	}
	int flags = fcntl(fd, F_GETFD);
	if (flags >= 0)
		fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

static void exec_process(int close_from)
{
	if (syscall(SYS_close_range, close_from, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		for (int fd = close_from; fd < 65536; fd++) {
			int flags = fcntl(fd, F_GETFD);
			if (flags >= 0)
				fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
		}
	}
	if (cwd_ && *cwd_ && !cwd_entered)
		enter_cwd();
	char buf[4096];
	const char *path = look_path(buf, sizeof(buf));
	if (has_exec_filter) {
		/* Under the filter a failed execve gets one line on stderr, the plan's text around the
		 * path and the errno, as the managed init's (ProcessSteps.ExecVe): the filter may refuse
		 * what fail() would do. */
		char msg[4200];
		load_filter(&exec_filter);
		execve(path, argv_, envp_);
		int n = snprintf(msg, sizeof(msg), "%s%s%s%d\n", exec_filter.s[2] ? exec_filter.s[2] : "",
				 path, exec_filter.s[3] ? exec_filter.s[3] : "", errno);
		if (n > 0)
			(void)husk_write_all(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
		_exit(127);
	}
	execve(path, argv_, envp_);
	fail("exec \"%s\"", path);
}

static void run(const struct op *o)
{
	char p[32];
	switch (o->code) {
	case OP_SETSID:
		if (getsid(0) != getpid() && setsid() < 0)
			fail("setsid");
		break;
	case OP_KEYRING:
		join_keyring(o->s[0], o->u[0]);
		break;
	case OP_MOUNT: {
		const char *target = o->i[0] >= 0 ? fd_path(reg(o->i[0]), p) : o->s[1];
		if (mount(o->s[0], target, o->s[2], (unsigned long)o->u[0], o->s[3]) < 0)
			fail("%s", o->s[4]);
		break;
	}
	case OP_OPEN: {
		int dir = o->i[1] < 0 ? AT_FDCWD : reg(o->i[1]);
		int fd = open_in(dir, o->s[0], o->u[0], o->u[1], (mode_t)o->u[2]);
		if (fd < 0 && !(o->i[2] && (errno == ENOENT || errno == ENOTDIR)))
			fail("%s", o->s[4]);
		set_reg(o->i[0], fd);
		break;
	}
	case OP_MKDIR_ALL:
		set_reg(o->i[0], mkdir_all(reg(o->i[1]), o->s[0], (mode_t)o->u[0], o->u[1], o->s[4]));
		break;
	case OP_CLOSE:
		set_reg(o->i[0], -1);
		break;
	case OP_FCHMOD:
		if (fchmod(reg(o->i[0]), (mode_t)o->u[0]) < 0)
			fail("%s", o->s[4]);
		break;
	case OP_MKNOD:
		make_device(o);
		break;
	case OP_SYMLINK: {
		int dir = reg(o->i[1]);
		if (o->i[2] && unlinkat(dir, o->s[0], 0) < 0 && errno != ENOENT)
			fail("%s", o->s[4]);
		if (symlinkat(o->s[1], dir, o->s[0]) < 0 && errno != EEXIST)
			fail("%s", o->s[4]);
		break;
	}
	case OP_SETATTR:
		if (sys_mount_setattr(reg(o->i[0]), AT_EMPTY_PATH | (o->i[1] ? AT_RECURSIVE : 0), o->u[0], o->u[1]) < 0)
			fail("%s", o->s[4]);
		break;
	case OP_BIND_READONLY:
		if (reg(o->i[0]) >= 0)
			bind_readonly(regs[o->i[0]], o->s[4]);
		break;
	case OP_MASK:
		if (reg(o->i[0]) >= 0)
			mask(regs[o->i[0]], reg(o->i[1]), o->s[4]);
		break;
	case OP_CHECK_DEVNULL: {
		struct stat st;
		if (fstatat(reg(o->i[0]), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			fail("masked paths: stat /dev/null");
		errno = 0;
		if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3)
			fail("masked paths: /dev/null is not the null device (char 1:3)");
		break;
	}
	case OP_NOT_SYMLINK: {
		struct stat st;
		if (reg(o->i[0]) < 0)
			break;
		if (fstatat(regs[o->i[0]], "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			fail("%s", o->s[4]);
		errno = 0;
		if (S_ISLNK(st.st_mode))
			fail("%s: is a symbolic link, refusing to follow it", o->s[4]);
		break;
	}
	case OP_PIVOT:
		pivot(o->s[0]);
		break;
	case OP_REMOUNT:
		remount(o->i[0] >= 0 ? fd_path(reg(o->i[0]), p) : o->s[0], o->u[0], o->s[4]);
		break;
	case OP_READONLY_ROOT:
		readonly_root();
		break;
	case OP_UMASK:
		umask((mode_t)o->u[0]);
		break;
	case OP_HOSTNAME:
		if (sethostname(o->s[0], strlen(o->s[0])) < 0)
			fail("sethostname \"%s\"", o->s[0]);
		break;
	case OP_DOMAINNAME:
		if (setdomainname(o->s[0], strlen(o->s[0])) < 0)
			fail("setdomainname \"%s\"", o->s[0]);
		break;
	case OP_WRITE_PROC: {
		/* Through the host's procfs (nsexec.c opened it), never the container's /proc, resolved as
		 * Husk.Linux.ProcFs does: beneath it, on it, no symlinks. */
		int fd = open_in(procfs_fd, o->s[0], O_WRONLY,
				 RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV | RESOLVE_BENEATH, 0);
		struct statfs st;
		if (fd < 0 || fstatfs(fd, &st) < 0)
			fail("%s", o->s[4]);
		if (st.f_type != PROC_SUPER_MAGIC) {
			errno = 0;
			fail("%s: not on procfs", o->s[4]);
		}
		if (husk_write_all(fd, o->s[1], strlen(o->s[1])) < 0)
			fail("%s", o->s[4]);
		close(fd);
		break;
	}
	case OP_RLIMIT: {
		struct rlimit r = { (rlim_t)o->u[0], (rlim_t)o->u[1] };
		if (prlimit(0, (__rlimit_resource_t)o->i[0], &r, NULL) < 0)
			fail("%s", o->s[4]);
		break;
	}
	case OP_MAKE_CWD: {
		/* As runc: a missing cwd is made (0755, with its parents) before "/" may turn read-only. */
		struct stat st;
		if (stat(o->s[0], &st) == 0 && S_ISDIR(st.st_mode))
			break;
		char path[4096];
		size_t n = strlen(o->s[0]);
		if (n >= sizeof(path)) {
			errno = ENAMETOOLONG;
			fail("create cwd (\"%s\") set in config.json", o->s[0]);
		}
		memcpy(path, o->s[0], n + 1);
		for (char *s = path + 1;; s++) {
			if (*s == '/' || *s == '\0') {
				char c = *s;
				*s = '\0';
				if (mkdir(path, 0755) < 0 && errno != EEXIST)
					fail("create cwd (\"%s\") set in config.json: mkdir %s", o->s[0], path);
				*s = c;
				if (!c)
					break;
			}
		}
		break;
	}
	case OP_ARG:
	case OP_ENV: {
		int *count = o->code == OP_ARG ? &argc_ : &envc_;
		char **list = o->code == OP_ARG ? argv_ : envp_;
		errno = 0;
		if (*count >= MAX_ARGS)
			fail("init plan: too many arguments or environment entries");
		list[(*count)++] = (char *)(o->s[0] ? o->s[0] : "");
		break;
	}
	case OP_CWD:
		cwd_ = o->s[0];
		break;
	case OP_LOOKPATH: {
		char buf[4096];
		look_path(buf, sizeof(buf));
		break;
	}
	case OP_READY: {
		/* i[0]: keep the channel (exec: errors until execve go to the parent; close-on-exec). */
		uint32_t hdr[2] = { MSG_READY, 0 };
		if (husk_write_all(sync_fd, hdr, sizeof(hdr)) < 0)
			_exit(1);
		ready = 1;
		keep_channel = o->i[0];
		if (!keep_channel) {
			close(sync_fd);
			sync_fd = -1;
		}
		break;
	}
	case OP_WAIT_FIFO:
		wait_fifo(o->i[0]);
		break;
	case OP_FIX_STDIO:
		fix_stdio((uid_t)o->i[0]);
		break;
	case OP_GROUP:
		errno = 0;
		if (ngroups_ >= MAX_GROUPS)
			fail("init plan: too many additional gids");
		groups_[ngroups_++] = (gid_t)o->i[0];
		break;
	case OP_USER:
		set_user_and_caps(o);
		break;
	case OP_NO_NEW_PRIVS:
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			fail("prctl(PR_SET_NO_NEW_PRIVS)");
		break;
	case OP_EXEC:
		exec_process(o->i[0]);
		break;
	case OP_BIND:
		bind_clone(o);
		break;
	case OP_SECCOMP:
		if (o->i[1]) {
			exec_filter = *o;
			has_exec_filter = 1;
		} else
			load_filter(o);
		break;
	default:
		errno = 0;
		fail("init plan: unknown operation %u", o->code);
	}
}

/* Reads one operation at *off; 0 at the end of the plan. */
static int next_op(char *buf, uint32_t len, uint32_t *off, struct op *o)
{
	const uint32_t fixed = 4 + 4 * 4 + 5 * 8;
	if (*off == len)
		return 0;
	errno = 0;
	if (len - *off < fixed)
		fail("init plan: truncated operation");
	memcpy(&o->code, buf + *off, 4);
	memcpy(o->i, buf + *off + 4, sizeof(o->i));
	memcpy(o->u, buf + *off + 20, sizeof(o->u));
	*off += fixed;
	for (int k = 0; k < 5; k++) {
		uint32_t n;
		if (len - *off < 4)
			fail("init plan: truncated string");
		memcpy(&n, buf + *off, 4);
		*off += 4;
		if (n > len - *off || (n > 0 && buf[*off + n - 1] != '\0'))
			fail("init plan: bad string");
		o->s[k] = n ? buf + *off : NULL;
		*off += n;
	}
	if (!o->s[4])
		o->s[4] = "init plan";
	return 1;
}

void husk_run_plan(char *plan, uint32_t len, int sync, int procfs)
{
	sync_fd = sync;
	procfs_fd = procfs;
	for (int r = 0; r < MAX_REGS; r++)
		regs[r] = -1;
	uint32_t off = 0;
	struct op o;
	while (next_op(plan, len, &off, &o))
		run(&o);
	errno = 0;
	fail("init plan: ended without exec");
}

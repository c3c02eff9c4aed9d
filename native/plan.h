/* plan.h - what nsexec.c and the init plan executor (plan.c) share. */
#ifndef HUSK_PLAN_H
#define HUSK_PLAN_H
#include <stddef.h>
#include <stdint.h>

#define PROC_SUPER_MAGIC 0x9fa0

/* Message types between the init and `husk create`/`exec`; keep in sync with
 * src/Husk/Container/InitProtocol.cs. Wire format: u32 type, u32 length, payload. */
enum {
	MSG_BOOTSTRAP = 1,      /* parent -> init: records (nsexec.c) */
	MSG_USERMAP_REQ = 2,    /* init -> parent: i32 pid; please write my uid/gid maps */
	MSG_USERMAP_ACK = 3,    /* parent -> init: maps written */
	MSG_CHILD_PID = 4,      /* init -> parent: i32 pid of the container init (host pid ns) */
	MSG_ERROR = 5,          /* init -> parent: one line of text */
	MSG_READY = 14,         /* init (plan.c) -> parent: the container is built */
};

/* write(2) until all of buf is written (EINTR retried); 0, or -1 with errno. nsexec.c uses it too. */
int husk_write_all(int fd, const void *buf, size_t len);

/* Runs the operations of `plan` (len bytes) and execs the container's program; never returns. */
void husk_run_plan(char *plan, uint32_t len, int sync_fd, int procfs_fd) __attribute__((noreturn));

#endif

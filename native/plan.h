/* plan.h - the init plan executor (plan.c), entered from nsexec.c. */
#ifndef HUSK_PLAN_H
#define HUSK_PLAN_H
#include <stddef.h>
#include <stdint.h>

/* write(2) until all of buf is written (EINTR retried); 0, or -1 with errno. nsexec.c uses it too. */
int husk_write_all(int fd, const void *buf, size_t len);

/* Runs the operations of `plan` (len bytes) and execs the container's program; never returns. */
void husk_run_plan(char *plan, uint32_t len, int sync_fd, int procfs_fd) __attribute__((noreturn));

#endif

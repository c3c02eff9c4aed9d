/* plan.h - the init plan executor (plan.c), entered from nsexec.c. */
#ifndef HUSK_PLAN_H
#define HUSK_PLAN_H
#include <stdint.h>

/* Runs the operations of `plan` (len bytes) and execs the container's program; never returns. */
void husk_run_plan(char *plan, uint32_t len, int sync_fd, int procfs_fd) __attribute__((noreturn));

#endif

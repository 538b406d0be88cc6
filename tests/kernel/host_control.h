/*
 * tests/kernel/host_control.h — the guest half of host+guest tests: the
 * host (tests/inject/host_inject.py) talks to the test on COM2 (run-qemu.py
 * --control). It sends one line when it is done: "done key=N key=N ...".
 */
#ifndef XPOKE_TESTS_KERNEL_HOST_CONTROL_H
#define XPOKE_TESTS_KERNEL_HOST_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

/* Is COM2 there? If so, initialize it and drop anything already received. */
bool host_ctl_start(void);

/* Poll COM2: true once the "done ..." line has arrived. Thread context. */
bool host_ctl_done(void);

/* The last "done ..." line (empty before it arrived). */
const char *host_ctl_line(void);

/* The value N of "key=N" in the done line; ~0 if it is not there. */
uint64_t host_ctl_field(const char *key);

#endif

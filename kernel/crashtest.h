/*
 * kernel/crashtest.h — deliberate crashes on request (crashtest=...), so the
 * host can check that failures outside any test are reported and end the
 * run as failed (the crash-* stanzas of tests/boots.cfg).
 */
#ifndef XPOKE_KERNEL_CRASHTEST_H
#define XPOKE_KERNEL_CRASHTEST_H

void crashtest_maybe_run(void);

#endif

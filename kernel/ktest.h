/*
 * kernel/ktest.h — in-kernel self-tests, reported in KTAP version 1.
 *
 * A test is one KTEST() entry (section .ktest), written next to nothing but
 * other tests in tests/kernel/. It runs on the BSP in thread context under a
 * recovery point and a watchdog: a panic (on the BSP, or on an AP running
 * the test's work) or a timeout marks it "not ok" with the reason and the
 * stuck CPUs' RIPs, and the run goes on.
 *
 * Vocabulary (as in kvm-unit-tests):
 *   report(cond, fmt, ...)   one checked property: "# PASS: ..." / "# FAIL: ..."
 *   report_info(fmt, ...)    a "# ..." diagnostic line
 *   report_skip(fmt, ...)    decide at run time that the test cannot run here
 */
#ifndef XPOKE_KERNEL_KTEST_H
#define XPOKE_KERNEL_KTEST_H

#include <stdbool.h>
#include <stdint.h>

enum {
	KTEST_HIDDEN = 1 << 0,  /* not part of "all": runs only when named */
};

struct ktest {
	const char *name;
	void (*fn)(void);
	const char *(*skip)(void);      /* NULL, or returns a reason to skip */
	uint32_t min_cpus;              /* skip with fewer CPUs online */
	uint32_t timeout_ms;            /* 0: KTEST_DEFAULT_TIMEOUT_MS */
	uint32_t flags;
};

#define KTEST_DEFAULT_TIMEOUT_MS 60000

#define KTEST(_name, _fn, ...) \
	static const struct ktest __ktest_##_fn \
	__attribute__((used, section(".ktest"), aligned(8))) = { .name = (_name), .fn = (_fn), __VA_ARGS__ }

bool report(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Mark the running test failed (any CPU, any context, NMI included). */
void ktest_record_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run every test matching one of the comma-separated globs ("all" = every
 * non-hidden test), repeat times. Returns the number of failures. */
int ktest_run(const char *globs, unsigned repeat);

/* Entry from kmain when ktest= is given; exits QEMU. */
__attribute__((noreturn)) void ktest_main(void);
bool ktest_requested(void);

void ktest_init(void);          /* register the watchdog timer vector */

#endif

/*
 * kernel/crashtest.c — crashtest=KIND[@CPU].
 *
 *   ud      execute UD2                      -> #UD register dump
 *   pf      write to kernel .text            -> #PF (protection, write)
 *   stack   recurse until the guard page     -> #DF on the IST stack
 *   panic   call panic()
 *   hang    spin forever with IRQs off       -> the host runner's timeout
 *
 * On an AP (@CPU), the crash runs as queued work with its recovery point
 * removed, i.e. exactly like a crash outside any test.
 */
#include "arch/x86/cpu.h"
#include "kernel/cmdline.h"
#include "kernel/crashtest.h"
#include "kernel/errno.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/smp_call.h"
#include "kernel/string.h"

static const char *const kinds[] = { "ud", "pf", "stack", "panic", "hang" };
static int kind = -1;
static unsigned on_cpu_nr;

static int set_crashtest(const char *v)
{
	char name[16];
	const char *at = v ? strchr(v, '@') : NULL;
	size_t n = at ? (size_t)(at - v) : (v ? strlen(v) : 0);
	if (!v || n == 0 || n >= sizeof(name)) {
		printk("crashtest: needs KIND[@CPU], KIND one of ud pf stack panic hang");
		return -EINVAL;
	}
	memcpy(name, v, n);
	name[n] = 0;
	for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(name, kinds[i]))
			kind = (int)i;
	uint64_t cpu = 0;
	if (kind < 0 || (at && (!parse_u64(at + 1, &cpu) || cpu >= MAX_CPUS))) {
		printk("crashtest: '%s' is not KIND[@CPU], KIND one of ud pf stack panic hang", v);
		kind = -1;
		return -EINVAL;
	}
	on_cpu_nr = (unsigned)cpu;
	return 0;
}
KPARAM("crashtest", set_crashtest, "KIND[@CPU]: crash on purpose (ud pf stack panic hang)");

extern char __text_start[];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winfinite-recursion"
__attribute__((noinline))
static unsigned recurse(unsigned depth)
{
	volatile char pad[512];
	pad[0] = (char)depth;
	return recurse(depth + 1) + pad[0];
}
#pragma GCC diagnostic pop

static void crash(void *unused)
{
	(void)unused;
	this_cpu()->recover = NULL;     /* as if outside any test */
	printk("crashtest: CPU %u: %s", cpu_id(), kinds[kind]);
	switch (kind) {
	case 0: __asm__ volatile("ud2"); break;
	case 1: *(volatile char *)__text_start = 0; break;
	case 2: recurse(0); break;
	case 3: panic("crashtest: panic on request"); break;
	case 4: irq_disable(); for (;;) cpu_relax();
	}
	panic("crashtest: %s did not crash", kinds[kind]);
}

void crashtest_maybe_run(void)
{
	if (kind < 0)
		return;
	if (on_cpu_nr == 0) {
		crash(NULL);
	} else {
		int err = on_cpu_async(on_cpu_nr, crash, NULL);
		if (err)
			panic("crashtest: cannot queue work on CPU %u: %s", on_cpu_nr, errno_name(err));
		cpu_wait_done(on_cpu_nr, 10000000);
		panic("crashtest: CPU %u survived", on_cpu_nr);
	}
}

/*
 * tests/kernel/test_mce.c — machine checks: how each error is graded, and
 * (host+guest) that machine checks of each class injected by QEMU are
 * reported as that class.
 */
#include "arch/x86/mce.h"
#include "arch/x86/tsc.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "tests/kernel/host_control.h"

#define VAL   MCI_STATUS_VAL
#define UC    MCI_STATUS_UC
#define EN    MCI_STATUS_EN
#define S     MCI_STATUS_S
#define AR    MCI_STATUS_AR
#define PCC   MCI_STATUS_PCC
#define OVER  MCI_STATUS_OVER
#define RIPV  MCG_STATUS_RIPV
#define EIPV  MCG_STATUS_EIPV
#define MCIP  MCG_STATUS_MCIP

/* Is each bank graded as Linux's mce_severity grades it in kernel context? */
static void test_grading(void)
{
	static const struct {
		uint64_t status, mcg;
		bool in_mce;
		enum mce_class want;
		const char *what;
	} cases[] = {
		{ VAL | EN, 0, false, MCE_CORRECTED, "no UC, polled" },
		{ VAL | EN | OVER, 0, false, MCE_CORRECTED, "no UC with OVER (a corrected error lost)" },
		{ VAL | UC | EN, RIPV | MCIP, true, MCE_UCNA, "UC, no S" },
		{ VAL | UC | EN | AR, RIPV | MCIP, true, MCE_UCNA, "UC and AR but no S" },
		{ VAL | UC | EN | S, RIPV | MCIP, true, MCE_SRAO, "UC|S, no AR" },
		{ VAL | UC | EN | S | AR, RIPV | EIPV | MCIP, true, MCE_SRAR, "UC|S|AR with RIPV and EIPV" },
		{ VAL | UC | EN | S | AR, RIPV | MCIP, true, MCE_SRAR, "UC|S|AR with RIPV, no EIPV" },
		{ VAL | UC | EN | S | AR, EIPV | MCIP, true, MCE_FATAL, "UC|S|AR with RIPV clear" },
		{ VAL | UC | EN, MCIP, true, MCE_FATAL, "UCNA with RIPV clear" },
		{ VAL | UC | EN | PCC, RIPV | MCIP, true, MCE_FATAL, "PCC" },
		{ VAL | UC | EN | S | OVER, RIPV | MCIP, true, MCE_FATAL, "UC with OVER" },
		{ VAL | UC | EN | S, 0, false, MCE_SRAO, "UC|S found by polling (RIPV not applicable)" },
		{ VAL | UC | EN | PCC, 0, false, MCE_FATAL, "PCC found by polling" },
	};
	unsigned bad = 0;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum mce_class got = mce_grade(cases[i].status, cases[i].mcg, cases[i].in_mce);
		if (got != cases[i].want) {
			bad++;
			report_info("STATUS %#lx MCG_STATUS %#lx (%s): graded %s, expected %s", cases[i].status,
				    cases[i].mcg, cases[i].what, mce_class_name(got), mce_class_name(cases[i].want));
		}
	}
	report(bad == 0, "%u bit patterns graded as Linux's mce_severity does (%u wrong)",
	       (unsigned)(sizeof(cases) / sizeof(cases[0])), bad);
	report(MCE_CORRECTED < MCE_UCNA && MCE_UCNA < MCE_SRAO && MCE_SRAO < MCE_SRAR && MCE_SRAR < MCE_FATAL,
	       "classes are ordered by severity, so a #MC is its worst bank");
}
KTEST("mce.grading", test_grading);

/*
 * Host+guest (scripts/host-inject.py --mode classes, srar, fatal): the
 * host injects machine checks with QEMU's "mce" command while this test
 * polls every CPU's banks (corrected errors raise no #MC), then says
 * "done corrected=C ucna=U srao=O". An SRAR or fatal one must stop the
 * machine instead (the host checks exit status 5): this test, with its
 * recovery point, must not be where the CPU resumes. Hidden: it waits for
 * a host that only that script provides.
 */
static void test_host_classes(void)
{
	if (!report(host_ctl_start(), "COM2 is there (run-qemu.py --control)"))
		return;
	static uint64_t before[MCE_CLASSES];
	for (int k = 0; k < MCE_CLASSES; k++) {
		before[k] = 0;
		for_each_cpu_in(c, &cpu_online_mask)
			before[k] += percpu_of(c)->mce_class[k];
	}
	printk("mce: ready for host injection (polling every CPU's banks)");
	uint64_t deadline = tsc_deadline_us(100000000);
	while (!host_ctl_done() && !tsc_expired(deadline)) {
		mce_poll_all();
		mdelay(5);
	}
	mce_poll_all();
	if (!report(host_ctl_done(), "the host said it was done: '%s'", host_ctl_line()))
		return;
	static const char *const keys[MCE_CLASSES] = { "corrected", "ucna", "srao", "srar", "fatal" };
	for (int k = 0; k < MCE_CLASSES; k++) {
		uint64_t seen = 0, sent = host_ctl_field(keys[k]);
		for_each_cpu_in(c, &cpu_online_mask)
			seen += percpu_of(c)->mce_class[k];
		seen -= before[k];
		if (sent == ~0ull)
			sent = 0;
		report(seen == sent, "%s machine checks: %lu seen, the host injected %lu", mce_class_name(k), seen, sent);
	}
}
KTEST("mce.host_classes", test_host_classes, .flags = KTEST_HIDDEN, .timeout_ms = 120000);

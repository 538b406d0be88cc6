/*
 * tests/kernel/test_mce.c — machine checks: how each error is graded, the
 * #MC stub's moved frame, and (host+guest) that machine checks of each
 * class injected by QEMU are reported as that class.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/mce.h"
#include "arch/x86/nmi.h"
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
 * Does INT 18 come back right through the #MC entry stub, which copies its
 * frame from the #MC IST stack to below the interrupted RSP: to the next
 * instruction, with every register and RFLAGS intact, at either stack
 * alignment, from thread context (IRETQ from the moved frame) and from an
 * NMI handler (POPFQ; RET, the moved frame being on the NMI stack)?
 */
uint32_t mce_int_regs_check(uint64_t misalign);        /* nmi_helpers.asm */

static volatile uint32_t int18_changed, int18_done;
static uint64_t int18_misalign;

/* NMI context. */
static void int18_from_nmi(struct regs *r)
{
	(void)r;
	int18_changed = mce_int_regs_check(int18_misalign);
	int18_done = 1;
}

static void test_int18_moved_frame(void)
{
	struct percpu *pc = this_cpu();
	for (unsigned m = 0; m <= 8; m += 8) {
		uint64_t soft = pc->mce_software;
		uint32_t changed = mce_int_regs_check(m);
		report(changed == 0 && pc->mce_software == soft + 1,
		       "thread, RSP %u mod 16: INT 18 taken once (%lu) and back with RAX..R15, RSP, RFLAGS intact "
		       "(changed mask %#x)", m, pc->mce_software - soft, changed);
	}
	nmi_set_test_hook(int18_from_nmi);
	for (unsigned m = 0; m <= 8; m += 8) {
		uint64_t soft = pc->mce_software, noiret = pc->nmi_noiret;
		int18_misalign = m;
		int18_changed = ~0u;
		int18_done = 0;
		__atomic_fetch_or(&pc->nmi_reasons, NMI_TEST, __ATOMIC_SEQ_CST);
		apic_send_nmi_self();
		uint64_t deadline = tsc_deadline_us(1000000);
		while (!int18_done && !tsc_expired(deadline))
			cpu_relax();
		report(int18_done && int18_changed == 0 && pc->mce_software == soft + 1 && pc->nmi_noiret == noiret + 1,
		       "NMI handler, RSP %u mod 16: INT 18 taken once (%lu), returned without IRET (%lu), RAX..R15, RSP, "
		       "RFLAGS intact (changed mask %#x)", m, pc->mce_software - soft, pc->nmi_noiret - noiret,
		       int18_changed);
	}
	nmi_set_test_hook(NULL);
}
KTEST("mce.int18_moved_frame", test_int18_moved_frame);

/*
 * Host+guest (tests/inject/host_inject.py: the inject-classes, -srar, -fatal stanzas): the
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

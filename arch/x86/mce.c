/*
 * arch/x86/mce.c — machine checks.
 *
 * #MC arrives on its own IST stack, at any moment, NMI handlers included.
 * The handler:
 *   1. runs the #MC path's live patch site (patch/context_sites.h);
 *   2. reads MCG_STATUS and every bank whose MCi_STATUS.VAL is set, logs
 *      them (STATUS, ADDR, MISC), clears each MCi_STATUS, then clears
 *      MCG_STATUS (MCIP): a second #MC while MCIP is set shuts the CPU down,
 *      so this happens before anything that could take long;
 *   3. decides: an uncorrected error (UC) is recoverable when MCG_STATUS.RIPV
 *      says the interrupted RIP is valid to return to and no bank reports
 *      PCC (processor context corrupt): it is logged, counted and execution
 *      continues. PCC, or RIPV clear, is fatal: panic with the log.
 *      INT 18 without MCIP is not a machine check (the storm tests use it to
 *      run this path): counted as software, and returns.
 * It calls nothing patchable besides that one site and takes no lock.
 * Returning into an NMI handler it avoids IRET (arch/x86/entry.asm).
 */
#include "arch/x86/cpu.h"
#include "arch/x86/mce.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "patch/context_sites.h"

#define MCG_CAP_COUNT(c)    ((c) & 0xff)
#define MCG_CAP_CTL_P       (1ull << 8)
#define MCG_STATUS_RIPV     (1ull << 0)
#define MCG_STATUS_EIPV     (1ull << 1)
#define MCG_STATUS_MCIP     (1ull << 2)
#define MCI_STATUS_VAL      (1ull << 63)
#define MCI_STATUS_OVER     (1ull << 62)
#define MCI_STATUS_UC       (1ull << 61)
#define MCI_STATUS_EN       (1ull << 60)
#define MCI_STATUS_PCC      (1ull << 57)
#define MSR_MCI_CTL(i)      (MSR_MC0_CTL + 4 * (i))
#define MSR_MCI_STATUS(i)   (MSR_MC0_CTL + 4 * (i) + 1)
#define MSR_MCI_ADDR(i)     (MSR_MC0_CTL + 4 * (i) + 2)
#define MSR_MCI_MISC(i)     (MSR_MC0_CTL + 4 * (i) + 3)
#define MAX_BANKS           32

static int mca;                         /* CPUID has MCE and MCA */
static unsigned banks;

void mce_init_this_cpu(void)
{
	write_cr4(read_cr4() | CR4_MCE);   /* QEMU's mce injection triple-faults without it */
	struct cpuid_regs id = cpuid(1, 0);
	mca = (id.edx & (1u << 7)) && (id.edx & (1u << 14));
	if (!mca)
		return;
	uint64_t cap = rdmsr(MSR_MCG_CAP);
	banks = MCG_CAP_COUNT(cap) < MAX_BANKS ? MCG_CAP_COUNT(cap) : MAX_BANKS;
	if (cap & MCG_CAP_CTL_P)
		wrmsr(MSR_MCG_CTL, ~0ull);
	for (unsigned i = 0; i < banks; i++) {
		wrmsr(MSR_MCI_CTL(i), ~0ull);
		wrmsr(MSR_MCI_STATUS(i), 0);
	}
}

/* #MC context: no lock, nothing patchable (no-patch region), prints only through lock-free printk. */
void mce_handle(struct regs *r)
{
	struct percpu *pc = this_cpu();
	uint64_t status[MAX_BANKS], addr[MAX_BANKS], misc[MAX_BANKS];

	mce_site_run();                 /* a live patch site, on every #MC */
	uint64_t mcg = mca ? rdmsr(MSR_MCG_STATUS) : 0;
	if (!(mcg & MCG_STATUS_MCIP)) {
		pc->mce_software++;     /* INT 18: no machine check in progress */
		return;
	}

	/* Read and clear everything first: MCIP must go before anything slow. */
	unsigned valid = 0;
	bool pcc = false;
	for (unsigned i = 0; i < banks; i++) {
		status[i] = rdmsr(MSR_MCI_STATUS(i));
		if (!(status[i] & MCI_STATUS_VAL))
			continue;
		addr[i] = rdmsr(MSR_MCI_ADDR(i));
		misc[i] = rdmsr(MSR_MCI_MISC(i));
		wrmsr(MSR_MCI_STATUS(i), 0);
		pcc |= status[i] & MCI_STATUS_PCC;
		valid++;
	}
	wrmsr(MSR_MCG_STATUS, 0);       /* clears MCIP: a new #MC may come now */

	bool recoverable = (mcg & MCG_STATUS_RIPV) && !pcc;
	printk("mce: CPU %u: %s machine check, MCG_STATUS %#lx (RIPV %lu EIPV %lu MCIP 1), %u bank(s), RIP %#lx",
	       pc->cpu, recoverable ? "recoverable" : "FATAL", mcg, (unsigned long)(mcg & MCG_STATUS_RIPV),
	       (unsigned long)((mcg & MCG_STATUS_EIPV) >> 1), valid, r->rip);
	for (unsigned i = 0; i < banks; i++)
		if (status[i] & MCI_STATUS_VAL)
			printk("mce:   bank %u: STATUS %#lx (%s%s%s) ADDR %#lx MISC %#lx", i, status[i],
			       status[i] & MCI_STATUS_UC ? "UC" : "corrected",
			       status[i] & MCI_STATUS_PCC ? " PCC" : "", status[i] & MCI_STATUS_OVER ? " OVER" : "",
			       addr[i], misc[i]);
	if (recoverable) {
		pc->mce_recoverable++;
		return;
	}
	die(r, "machine check: %s", pcc ? "processor context corrupt (PCC)" :
	    "no valid return address (RIPV clear)");
}

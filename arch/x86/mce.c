/*
 * arch/x86/mce.c — machine checks.
 *
 * The #MC handler runs on its own IST stack; it logs MCG_STATUS and every
 * bank with MCi_STATUS.VAL, clears the banks and then MCG_STATUS.MCIP (a
 * second #MC while MCIP is set shuts the CPU down), and treats every machine
 * check as fatal for now. It calls nothing patchable and takes no lock.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/mce.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"

#define MCG_CAP_COUNT(c)    ((c) & 0xff)
#define MCG_CAP_CTL_P       (1ull << 8)
#define MCI_STATUS_VAL      (1ull << 63)
#define MSR_MCI_CTL(i)      (MSR_MC0_CTL + 4 * (i))
#define MSR_MCI_STATUS(i)   (MSR_MC0_CTL + 4 * (i) + 1)
#define MSR_MCI_ADDR(i)     (MSR_MC0_CTL + 4 * (i) + 2)
#define MSR_MCI_MISC(i)     (MSR_MC0_CTL + 4 * (i) + 3)

static int have_mca(void)
{
	struct cpuid_regs id = cpuid(1, 0);
	return (id.edx & (1u << 7)) && (id.edx & (1u << 14));  /* MCE, MCA */
}

void mce_init_this_cpu(void)
{
	write_cr4(read_cr4() | CR4_MCE);
	if (!have_mca())
		return;
	uint64_t cap = rdmsr(MSR_MCG_CAP);
	if (cap & MCG_CAP_CTL_P)
		wrmsr(MSR_MCG_CTL, ~0ull);
	for (unsigned i = 0; i < MCG_CAP_COUNT(cap); i++) {
		wrmsr(MSR_MCI_CTL(i), ~0ull);
		wrmsr(MSR_MCI_STATUS(i), 0);
	}
}

/* #MC context. */
void mce_handle(struct regs *r)
{
	uint64_t cap = have_mca() ? rdmsr(MSR_MCG_CAP) : 0;
	uint64_t mcg = have_mca() ? rdmsr(MSR_MCG_STATUS) : 0;
	printk("CPU %u: machine check, MCG_STATUS %#lx (RIPV %lu EIPV %lu MCIP %lu)", cpu_id(),
	       mcg, mcg & 1, (mcg >> 1) & 1, (mcg >> 2) & 1);
	for (unsigned i = 0; i < MCG_CAP_COUNT(cap); i++) {
		uint64_t st = rdmsr(MSR_MCI_STATUS(i));
		if (!(st & MCI_STATUS_VAL))
			continue;
		printk("  bank %u: STATUS %#lx ADDR %#lx MISC %#lx", i, st,
		       rdmsr(MSR_MCI_ADDR(i)), rdmsr(MSR_MCI_MISC(i)));
		wrmsr(MSR_MCI_STATUS(i), 0);
	}
	if (have_mca())
		wrmsr(MSR_MCG_STATUS, 0);       /* clears MCIP */
	die(r, "machine check");
}

/*
 * arch/x86/mce.c — machine checks: the #MC handler, polling, grading.
 *
 * Grading follows Linux's mce_severity() (arch/x86/kernel/cpu/mce/
 * severity.c) for kernel context, the only context xpoke has. Each valid
 * bank is, checked in this order:
 *
 *   fatal      PCC (processor context corrupt), or UC with OVER (an
 *              uncorrected error was lost), or, in a #MC, MCG_STATUS.RIPV
 *              clear (nowhere valid to return to)
 *   corrected  no UC; raises no #MC: found by polling
 *   UCNA       UC, no S: uncorrected, nothing to do now
 *   SRAO       UC|S, no AR: software-recoverable, action optional
 *   SRAR       UC|S|AR: action required: the data at MCi_ADDR was consumed
 *              (by the interrupted instruction when EIPV is set)
 *
 * A #MC's class is the worst of its banks (enum mce_class is in that
 * order). Corrected, UCNA and SRAO are logged, counted per class per CPU
 * (percpu->mce_class), and execution continues. SRAR and fatal stop the
 * machine (die_stop(), with no recovery into a running test): returning
 * from an SRAR re-executes the instruction that consumed the poison and
 * takes the #MC again, forever; xpoke has nothing to repair it with (no
 * user process to kill, no page to offline). Every log line names the
 * class in those words.
 *
 * The #MC handler, mce_handle():
 *   1. MCG_STATUS without MCIP is INT 18 from software (the storm tests use
 *      it to run this path): counted as such; runs the site; returns.
 *   2. Only what must happen before MCIP is cleared: read and clear every
 *      bank with VAL|UC, then clear MCG_STATUS. A second #MC while MCIP is
 *      set shuts the CPU down (QEMU resets the guest, or drops the error).
 *   3. Runs the #MC path's live patch site (lab/context_sites.h).
 *   4. Grades, logs and counts; SRAR and fatal stop the machine.
 * It leaves banks without UC (corrected errors) to mce_poll(), as Linux
 * does, so that a poll and a #MC never both take one bank. (A bank that
 * changes between a poll's read and its clear loses the new error; the
 * hardware has the same window.)
 *
 * The handler calls nothing patchable besides that one site (and a test's
 * hook) and takes no lock; it prints only through printk (lock-free).
 * Returning into an NMI handler it avoids IRET (arch/x86/entry.asm).
 *
 * Nesting: once MCIP is clear a second #MC may arrive while the first is
 * still being handled. The entry stub (arch/x86/mce_entry.asm) has by then
 * moved the first one's frame off the #MC IST stack, below the RSP it
 * interrupted (mce_frame_dest()), so the second starts on a free IST stack,
 * moves below the first handler's RSP, and both are handled and logged;
 * percpu->mce_nested counts it.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/dump.h"
#include "arch/x86/mce.h"
#include "arch/x86/traps.h"
#include "kernel/format.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/smp_call.h"
#include "lab/context_sites.h"

#define MCG_CAP_COUNT(c)    ((c) & 0xff)
#define MCG_CAP_CTL_P       (1ull << 8)
#define MSR_MCI_CTL(i)      (MSR_MC0_CTL + 4 * (i))
#define MSR_MCI_STATUS(i)   (MSR_MC0_CTL + 4 * (i) + 1)
#define MSR_MCI_ADDR(i)     (MSR_MC0_CTL + 4 * (i) + 2)
#define MSR_MCI_MISC(i)     (MSR_MC0_CTL + 4 * (i) + 3)
#define MAX_BANKS           32

/* Left clear between the interrupted RSP and the moved #MC frame: the two
 * words a return without IRET stores below that RSP (arch/x86/entry.asm). */
#define MCE_GAP             16
/* Stack the whole handler needs below its moved frame: about 4.3 KB by
 * -fstack-usage (mce_handle 1376, printk 1152, dump_regs 592, die_stop
 * 432, trap_dispatch 208, and the console drain), with room to spare.
 * With less, a UCNA's log line would overflow into the guard page. */
#define MCE_MIN_ROOM        6144

static int mca;                         /* CPUID has MCE and MCA */
static unsigned banks;
static void (*test_hook)(struct regs *r);

/*
 * Every function below up to mce_handle() runs in #MC context too: each
 * takes no lock, calls nothing patchable (this file is in linker.ld's
 * no-patch region) and prints only through the lock-free printk.
 */
struct bank_error {
	unsigned bank;
	enum mce_class cls;
	uint64_t status, addr, misc;
};

/* Any context (#MC included): no lock, nothing patchable. */
const char *mce_class_name(enum mce_class c)
{
	static const char *const names[MCE_CLASSES] = { "corrected", "UCNA", "SRAO", "SRAR", "fatal" };
	return (unsigned)c < MCE_CLASSES ? names[c] : "?";
}

/* Any context (#MC included): no lock, nothing patchable. */
enum mce_class mce_grade(uint64_t status, uint64_t mcg, bool in_mce)
{
	if (status & MCI_STATUS_PCC)
		return MCE_FATAL;
	if ((status & MCI_STATUS_UC) && (status & MCI_STATUS_OVER))
		return MCE_FATAL;
	if (in_mce && !(mcg & MCG_STATUS_RIPV))
		return MCE_FATAL;
	if (!(status & MCI_STATUS_UC))
		return MCE_CORRECTED;
	if (!(status & MCI_STATUS_S))
		return MCE_UCNA;
	if (!(status & MCI_STATUS_AR))
		return MCE_SRAO;
	return MCE_SRAR;
}

/* Any context (#MC included), no lock, nothing patchable: the status bits
 * worth naming, e.g. "UC EN S AR ADDRV". */
static const char *status_bits(char *buf, unsigned size, uint64_t st)
{
	static const struct { uint64_t bit; const char *name; } bits[] = {
		{ MCI_STATUS_UC, "UC" }, { MCI_STATUS_EN, "EN" }, { MCI_STATUS_S, "S" }, { MCI_STATUS_AR, "AR" },
		{ MCI_STATUS_PCC, "PCC" }, { MCI_STATUS_OVER, "OVER" }, { MCI_STATUS_ADDRV, "ADDRV" },
		{ MCI_STATUS_MISCV, "MISCV" },
	};
	unsigned n = 0;
	buf[0] = 0;
	for (unsigned i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (st & bits[i].bit)
			n += (unsigned)snprintf(buf + n, n < size ? size - n : 0, "%s%s", n ? " " : "", bits[i].name);
	return buf;
}

/* Any context (#MC included), no lock, nothing patchable: read bank i, which
 * holds an error, and clear it. */
static struct bank_error take_bank(unsigned i, uint64_t status)
{
	struct bank_error e = { .bank = i, .status = status };
	/* Only what the status says is there: an unimplemented MCi_ADDR or
	 * MCi_MISC raises #GP (Intel SDM), here possibly with MCIP set. */
	e.addr = status & MCI_STATUS_ADDRV ? rdmsr(MSR_MCI_ADDR(i)) : 0;
	e.misc = status & MCI_STATUS_MISCV ? rdmsr(MSR_MCI_MISC(i)) : 0;
	wrmsr(MSR_MCI_STATUS(i), 0);
	return e;
}

/* #MC context: one line for a bank of a #MC; no lock, nothing patchable,
 * prints only through lock-free printk. */
static void log_bank(const struct bank_error *e)
{
	char bits[64];
	printk("mce: CPU %u:   bank %u: %s, STATUS %#lx (%s), ADDR %#lx%s MISC %#lx", cpu_id(), e->bank,
	       mce_class_name(e->cls), e->status, status_bits(bits, sizeof(bits), e->status), e->addr,
	       e->status & MCI_STATUS_ADDRV ? "" : " (not valid)", e->misc);
}

/*
 * An SRAR or fatal #MC: stop the machine, naming the class, the bank, the
 * address and the interrupted RIP. #MC context (MCIP already clear): no
 * lock, nothing patchable; die_stop() prints only through printk.
 */
__attribute__((noreturn))
static void mce_stop(struct regs *r, uint64_t mcg, const struct bank_error *worst)
{
	const char *why;
	if (!worst)
		why = "no valid bank and no valid return address (RIPV clear)";
	else if (worst->cls == MCE_SRAR)
		why = "action required in kernel context: returning would execute the instruction that consumed "
		      "the poisoned data again, and take this #MC again";
	else if (worst->status & MCI_STATUS_PCC)
		why = "processor context corrupt (PCC)";
	else if ((worst->status & MCI_STATUS_UC) && (worst->status & MCI_STATUS_OVER))
		why = "an uncorrected error overflowed the bank (OVER): one was lost";
	else
		why = "no valid return address (RIPV clear)";
	if (!worst)
		die_stop(r, "machine check: fatal, MCG_STATUS %#lx, interrupted RIP %#lx: %s", mcg, r->rip, why);
	die_stop(r, "machine check: %s in bank %u (STATUS %#lx), ADDR %#lx%s, interrupted RIP %#lx%s: %s",
		 mce_class_name(worst->cls), worst->bank, worst->status, worst->addr,
		 worst->status & MCI_STATUS_ADDRV ? "" : " (ADDRV clear: not valid)", r->rip,
		 mcg & MCG_STATUS_EIPV ? " (EIPV: the error is at that instruction)" : "", why);
}

void mce_set_test_hook(void (*fn)(struct regs *r))
{
	__atomic_store_n(&test_hook, fn, __ATOMIC_SEQ_CST);
}

/*
 * #MC context, on the #MC IST stack, before MCIP is cleared: no lock,
 * nothing patchable (no-patch region); prints only through lock-free
 * printk, and only on the way to stopping. The frame goes below the
 * interrupted RSP, MCE_GAP clear of it, 16-byte aligned, on whichever of
 * this CPU's stacks that RSP is. Runs before trap_dispatch records the
 * frame: in the trap entry path (TRAP_ENTRY_TEXT, arch/x86/traps.h).
 */
TRAP_ENTRY_TEXT uintptr_t mce_frame_dest(struct regs *r)
{
	struct percpu *pc = this_cpu();
	uintptr_t sp = r->rsp, lo = 0;
	if (sp > pc->ist_lo[IST_MCE] && sp <= pc->ist_hi[IST_MCE])
		die_stop(r, "#MC on CPU %u interrupted code on the #MC IST stack itself (RSP %#lx, RIP %#lx): an #MC "
			 "entry that had not moved its frame yet (a software INT 18) was overwritten", pc->cpu, sp, r->rip);
	if (sp > pc->stack_lo && sp <= pc->stack_hi)
		lo = pc->stack_lo;
	for (int i = 1; i <= IST_COUNT; i++)
		if (i != IST_MCE && sp > pc->ist_lo[i] && sp <= pc->ist_hi[i])
			lo = pc->ist_lo[i];
	if (!lo)
		die_stop(r, "#MC on CPU %u: the interrupted RSP %#lx (RIP %#lx) is on none of this CPU's stacks: "
			 "nowhere to move the #MC frame", pc->cpu, sp, r->rip);
	uintptr_t dest = ((sp - MCE_GAP) & ~(uintptr_t)15) - sizeof(struct regs);
	if (dest < lo + MCE_MIN_ROOM)
		die_stop(r, "#MC on CPU %u: only %lu bytes left below the interrupted RSP %#lx (RIP %#lx), too few "
			 "for the moved #MC frame and its handler", pc->cpu, sp - lo, sp, r->rip);
	return dest;
}

/* #MC context: no lock, nothing patchable (no-patch region) besides the
 * #MC site, prints only through lock-free printk. */
void mce_handle(struct regs *r)
{
	struct percpu *pc = this_cpu();
	struct bank_error err[MAX_BANKS];
	char sym[96];

	uint64_t mcg = mca ? rdmsr(MSR_MCG_STATUS) : 0;
	if (!(mcg & MCG_STATUS_MCIP)) {
		mce_site_run();         /* a live patch site, on every #MC */
		pc->mce_software++;     /* INT 18: no machine check in progress */
		return;
	}

	/* Step 2, all that must happen before MCIP is cleared. */
	unsigned n = 0, corrected = 0;
	for (unsigned i = 0; i < banks; i++) {
		uint64_t st = rdmsr(MSR_MCI_STATUS(i));
		if (!(st & MCI_STATUS_VAL))
			continue;
		if (!(st & MCI_STATUS_UC)) {
			corrected++;    /* mce_poll()'s */
			continue;
		}
		err[n++] = take_bank(i, st);
	}
	wrmsr(MSR_MCG_STATUS, 0);       /* clears MCIP: a new #MC may come now */
	__atomic_fetch_add(&pc->mce_taken, 1, __ATOMIC_RELEASE);

	/* Step 3. */
	mce_site_run();                 /* a live patch site, on every #MC */

	/* Step 4. */
	bool nested = pc->mce_depth > 1;
	if (nested)
		pc->mce_nested++;
	const struct bank_error *worst = NULL;
	for (unsigned k = 0; k < n; k++) {
		err[k].cls = mce_grade(err[k].status, mcg, true);
		if (!worst || err[k].cls > worst->cls)
			worst = &err[k];
	}
	unsigned ripv = mcg & MCG_STATUS_RIPV ? 1 : 0, eipv = mcg & MCG_STATUS_EIPV ? 1 : 0;
	if (!worst) {
		printk("mce: CPU %u: %smachine check with no valid uncorrected bank%s, MCG_STATUS %#lx (RIPV %u EIPV %u), "
		       "RIP %#lx <%s>%s; %s", pc->cpu, ripv ? "" : "fatal ",
		       corrected ? " (corrected ones left for polling)" : "", mcg, ripv, eipv, r->rip,
		       format_symbol(sym, sizeof(sym), r->rip), nested ? ", nested in another #MC handler" : "",
		       ripv ? "continuing" : "RIPV clear: stopping");
		if (!ripv) {
			pc->mce_class[MCE_FATAL]++;
			mce_stop(r, mcg, NULL);
		}
		pc->mce_nobank++;
	} else {
		printk("mce: CPU %u: %s machine check, MCG_STATUS %#lx (RIPV %u EIPV %u), %u bank(s), RIP %#lx <%s>%s",
		       pc->cpu, mce_class_name(worst->cls), mcg, ripv, eipv, n, r->rip,
		       format_symbol(sym, sizeof(sym), r->rip), nested ? ", nested in another #MC handler" : "");
		for (unsigned k = 0; k < n; k++)
			log_bank(&err[k]);
		pc->mce_class[worst->cls]++;
		if (worst->cls >= MCE_SRAR)
			mce_stop(r, mcg, worst);
	}
	void (*fn)(struct regs *) = __atomic_load_n(&test_hook, __ATOMIC_ACQUIRE);
	if (fn && !nested)
		fn(r);
}

/* Thread context (boot included), this CPU. */
unsigned mce_poll(bool boot)
{
	struct percpu *pc = this_cpu();
	unsigned found = 0;
	char bits[64];
	for (unsigned i = 0; mca && i < banks; i++) {
		uint64_t st = rdmsr(MSR_MCI_STATUS(i));
		if (!(st & MCI_STATUS_VAL) || ((st & MCI_STATUS_UC) && !boot))
			continue;       /* nothing there, or the #MC handler's */
		struct bank_error e = take_bank(i, st);
		e.cls = mce_grade(e.status, 0, false);
		printk("mce: CPU %u: %s machine check, %s bank %u: STATUS %#lx (%s), ADDR %#lx%s MISC %#lx", pc->cpu,
		       mce_class_name(e.cls), boot ? "left from before this boot in" : "found by polling", i, e.status,
		       status_bits(bits, sizeof(bits), e.status), e.addr, e.status & MCI_STATUS_ADDRV ? "" : " (not valid)",
		       e.misc);
		pc->mce_class[e.cls]++;
		found++;
	}
	return found;
}

static void poll_here(void *found)
{
	__atomic_fetch_add((unsigned *)found, mce_poll(false), __ATOMIC_RELAXED);
}

unsigned mce_poll_all(void)
{
	unsigned found = 0, me = cpu_id();
	for_each_cpu_in(c, &cpu_online_mask) {
		if (c == me)
			poll_here(&found);
		else if (on_cpu(c, poll_here, &found))
			printk("mce: CPU %u did not run its poll", c);
	}
	return found;
}

/* Any context, no lock, nothing patchable. */
bool mce_in_progress(void)
{
	return mca && (rdmsr(MSR_MCG_STATUS) & MCG_STATUS_MCIP);
}

void mce_init_this_cpu(void)
{
	struct cpuid_regs id = cpuid(1, 0);
	mca = (id.edx & (1u << 7)) && (id.edx & (1u << 14));
	if (!mca) {
		write_cr4(read_cr4() | CR4_MCE);   /* QEMU's mce injection triple-faults without it */
		return;
	}
	uint64_t cap = rdmsr(MSR_MCG_CAP);
	banks = MCG_CAP_COUNT(cap) < MAX_BANKS ? MCG_CAP_COUNT(cap) : MAX_BANKS;
	mce_poll(true);                    /* report, then clear, what is left */
	if (cap & MCG_CAP_CTL_P)
		wrmsr(MSR_MCG_CTL, ~0ull);
	for (unsigned i = 0; i < banks; i++) {
		wrmsr(MSR_MCI_CTL(i), ~0ull);
		wrmsr(MSR_MCI_STATUS(i), 0);
	}
	/* Last: a #MC before mca and banks are known would be taken for a
	 * software INT 18 and leave MCIP set. (QEMU's mce injection
	 * triple-faults without CR4.MCE.) */
	write_cr4(read_cr4() | CR4_MCE);
}

/* Console: mce — poll every CPU, then print the counts. */
static int cmd_mce(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (!mca) {
		printk("mce: this CPU has no machine-check architecture");
		return 0;
	}
	unsigned found = mce_poll_all();
	printk("mce: polled %u bank(s) on each of %u CPU(s): %u new error(s)", banks, nr_cpus_online, found);
	printk("%-4s %10s %10s %10s %10s %10s %10s %10s %10s", "CPU", "corrected", "UCNA", "SRAO", "SRAR", "fatal",
	       "no bank", "nested", "INT 18");
	for_each_cpu_in(c, &cpu_online_mask) {
		const struct percpu *pc = percpu_of(c);
		printk("%-4u %10lu %10lu %10lu %10lu %10lu %10lu %10lu %10lu", c, pc->mce_class[MCE_CORRECTED],
		       pc->mce_class[MCE_UCNA], pc->mce_class[MCE_SRAO], pc->mce_class[MCE_SRAR],
		       pc->mce_class[MCE_FATAL], pc->mce_nobank, pc->mce_nested, pc->mce_software);
	}
	return 0;
}
SHELL_CMD("mce", "", "poll every CPU's machine-check banks, then print machine checks per CPU and class, and nested ones",
	  cmd_mce);

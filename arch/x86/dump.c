/*
 * arch/x86/dump.c — see dump.h.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/dump.h"
#include "kernel/format.h"
#include "kernel/ksyms.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"

static const char *const exc_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
	"#BR bound range", "#UD invalid opcode", "#NM device not available",
	"#DF double fault", "coprocessor segment overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check",
	"#MC machine check", "#XM SIMD error", "#VE virtualization", "#CP control protection",
	"reserved 22", "reserved 23", "reserved 24", "reserved 25", "reserved 26",
	"reserved 27", "#HV hypervisor injection", "#VC VMM communication",
	"#SX security", "reserved 31",
};

const char *exception_name(unsigned vector)
{
	return vector < 32 ? exc_names[vector] : "interrupt";
}

char *format_symbol(char *buf, unsigned size, uintptr_t addr)
{
	const struct ksym *s = ksym_lookup(addr);
	if (s)
		snprintf(buf, size, "%s+0x%lx/0x%lx", ksym_name(s), addr - s->addr, (unsigned long)s->size);
	else
		snprintf(buf, size, "%#lx", addr);
	return buf;
}

void dump_regs(const struct regs *r)
{
	char sym[96];
	struct percpu *pc = this_cpu();
	printk("  CPU %u (APIC %u) vector %lu (%s) error %#lx\n"
	       "  RIP %016lx <%s>\n"
	       "  RSP %016lx RFLAGS %016lx CS %lx SS %lx\n"
	       "  CR2 %016lx CR3 %016lx CR0 %08lx CR4 %08lx\n"
	       "  RAX %016lx RBX %016lx RCX %016lx RDX %016lx\n"
	       "  RSI %016lx RDI %016lx RBP %016lx R8  %016lx\n"
	       "  R9  %016lx R10 %016lx R11 %016lx R12 %016lx\n"
	       "  R13 %016lx R14 %016lx R15 %016lx\n"
	       "  nesting: total %u irq %u nmi %u mce %u",
	       pc->cpu, pc->apic_id, r->vector, exception_name(r->vector), r->error,
	       r->rip, format_symbol(sym, sizeof(sym), r->rip),
	       r->rsp, r->rflags, r->cs, r->ss,
	       read_cr2(), read_cr3(), read_cr0(), read_cr4(),
	       r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rbp, r->r8,
	       r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15,
	       pc->ctx_depth, pc->irq_depth, pc->nmi_depth, pc->mce_depth);
}

/* Is [addr, addr+len) inside one of this CPU's stacks? */
static int on_my_stack(uintptr_t addr, uintptr_t len)
{
	struct percpu *pc = this_cpu();
	if (addr >= pc->stack_lo && addr + len <= pc->stack_hi)
		return 1;
	for (int i = 1; i <= IST_COUNT; i++)
		if (addr >= pc->ist_lo[i] && addr + len <= pc->ist_hi[i])
			return 1;
	return 0;
}

void dump_backtrace(uintptr_t rbp)
{
	char sym[96];
	printk("  call trace:");
	for (int depth = 0; depth < 16 && rbp && !(rbp & 7) && on_my_stack(rbp, 16); depth++) {
		uintptr_t *frame = (uintptr_t *)rbp;
		uintptr_t ret = frame[1];
		if (!ret)
			break;
		/* ret - 1: a call to a noreturn function may be the last
		 * instruction of its caller, so ret itself can lie past the end. */
		format_symbol(sym, sizeof(sym), ret - 1);
		printk("    %016lx <%s> (return address - 1)", ret, sym);
		if (frame[0] <= rbp)    /* frames grow upward; stop on loops */
			break;
		rbp = frame[0];
	}
}

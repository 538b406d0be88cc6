/*
 * arch/x86/nmi.h — NMI demultiplexing, and asking CPUs where they are.
 *
 * A sender sets a reason bit in the target's percpu->nmi_reasons and then
 * sends the NMI; the handler takes all bits at once, so NMIs that coalesce
 * in hardware lose no request. An NMI with no reason bit is external
 * (QEMU's `nmi`, LINT1) and is counted in nmi_unclaimed.
 */
#ifndef XPOKE_ARCH_X86_NMI_H
#define XPOKE_ARCH_X86_NMI_H

#include <stdint.h>
#include "arch/x86/regs.h"
#include "kernel/cpumask.h"

enum {
	NMI_STOP  = 1u << 0,    /* system_stop(): report and halt forever */
	NMI_WHERE = 1u << 1,    /* record the interrupted RIP (cpu_where) */
	NMI_TEST  = 1u << 2,    /* call the test hook */
	NMI_ABORT = 1u << 3,    /* abandon queued work: resume the recovery point */
	NMI_STORM = 1u << 4,    /* one shot of an NMI storm (lab/storm.c) */
	NMI_PATCH = 1u << 5,    /* a patching strategy's NMI: patch_on_nmi runs it (the patcher's own under nmi,
				 * the stop of stop-machine-nmi) */
	NMI_ALT   = 1u << 6,    /* the boot CPU's own NMI that applies the alternatives (clients/alternative/) */
};

/* Negative control (nmi.unsafe_iret=1): let exceptions IRET back into NMI
 * handlers, so nested NMIs can happen (see arch/x86/entry.asm). */
extern int nmi_unsafe_iret;

/* arch/x86/traps.c: an NMI began while this CPU was inside an NMI handler.
 * The first NMI's frame on the IST stack has been overwritten: panics. */
void nmi_nested_entry(struct regs *r);

/* Hook for NMI_STORM (lab/storm.c installs and removes it). */
void nmi_set_storm_hook(void (*fn)(struct regs *r));

void nmi_handle(struct regs *r);

void nmi_send(unsigned cpu, uint32_t reason);

/* Hook for NMI_TEST (tests install and remove it). */
void nmi_set_test_hook(void (*fn)(struct regs *r));

/* Interrupted RIP of cpu (and its nesting depth), by NMI; 0 if it did not
 * answer within 50 ms (NMIs blocked, or the CPU is dead). */
uint64_t cpu_where(unsigned cpu, uint32_t *depth);

/* Print "what: CPU n (APIC a) at RIP <sym>" for every CPU in m. */
void cpus_report_where(const struct cpumask *m, const char *what);

#endif

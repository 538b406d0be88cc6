/*
 * patch/rendezvous.c — see rendezvous.h. In the no-patch region.
 *
 *   initiator                          every other online CPU
 *   ---------                          ----------------------
 *   (writes done)
 *   sync_pending = online - self
 *   IPI all-but-self VEC_SYNC  ------> sync_ipi(): sync_core(); clear own bit
 *                                      IRET (serializing too)
 *        or, if it is in the middle of hitting a site:
 *                                      #BP: clear own bit, emulate, IRET
 *   wait: sync_pending empty   <------
 *   sync_core() (the initiator runs patched code too)
 *
 * The serializing instruction: SERIALIZE where CPUID.07H:EDX[14] offers it
 * (it serializes and does nothing else); otherwise MOV to CR2, which the
 * SDM lists as serializing and which costs no stack frame, unlike an
 * IRET-to-self. The value written back is the one just read, so a #PF
 * handler's CR2 is never disturbed (a page fault cannot occur between the
 * two instructions, and the handler runs with IRQs off).
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpufeatures.h"
#include "arch/x86/irq.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "patch/rendezvous.h"

struct cpumask sync_pending;
uint64_t sync_round;
static uint64_t rounds, acks_in_bp;

/* Any context. */
void sync_ack(struct percpu *pc)
{
	pc->sync_acked = __atomic_load_n(&sync_round, __ATOMIC_ACQUIRE);
	cpumask_clear(&sync_pending, pc->cpu);
}
static int have_serialize;

void sync_core(void)
{
	if (have_serialize) {
		__asm__ volatile(".byte 0x0f, 0x01, 0xe8" ::: "memory");     /* SERIALIZE */
	} else {
		uint64_t cr2 = read_cr2();
		write_cr2(cr2);
	}
}

const char *sync_core_method(void)
{
	return have_serialize ? "SERIALIZE" : "MOV to CR2";
}

/* IRQ context. */
static void sync_ipi(struct regs *r)
{
	(void)r;
	sync_core();
	sync_ack(this_cpu());
}

void sync_init(void)
{
	have_serialize = cpu_features.serialize;
	irq_register(VEC_SYNC, sync_ipi);
	printk("patch: rendezvous serializes with %s", sync_core_method());
}

uint64_t sync_all_cpus(void)
{
	uint64_t t0 = rdtsc();
	unsigned me = cpu_id();

	/* Invariant 1: the bits go up after the writes (program order, and
	 * the lock-prefixed updates are full barriers). */
	__atomic_fetch_add(&sync_round, 1, __ATOMIC_SEQ_CST);
	cpumask_copy(&sync_pending, &cpu_online_mask);
	cpumask_clear(&sync_pending, me);
	if (!cpumask_empty(&sync_pending))
		apic_send_ipi_allbutself(VEC_SYNC);

	uint64_t deadline = tsc_deadline_us(SYNC_TIMEOUT_US);
	while (!cpumask_empty(&sync_pending)) {
		/* A CPU inside the #BP handler will serialize before it runs
		 * patchable code (see rendezvous.h): it has acknowledged. */
		for_each_cpu_in(c, &sync_pending)
			if (__atomic_load_n(&percpu_of(c)->bp_refs, __ATOMIC_ACQUIRE)) {
				cpumask_clear(&sync_pending, c);
				__atomic_fetch_add(&acks_in_bp, 1, __ATOMIC_RELAXED);
			}
		if (tsc_expired(deadline)) {
			struct cpumask late;
			cpumask_copy(&late, &sync_pending);
			cpus_report_where(&late, "sync");
			panic("sync: %u CPU(s) did not acknowledge within %llu ms", cpumask_weight(&late),
			      SYNC_TIMEOUT_US / 1000);
		}
		cpu_relax();
	}
	sync_core();
	__atomic_fetch_add(&rounds, 1, __ATOMIC_RELAXED);
	return rdtsc() - t0;
}

uint64_t sync_acks_in_bp_total(void)
{
	return __atomic_load_n(&acks_in_bp, __ATOMIC_RELAXED);
}

uint64_t sync_rounds_total(void)
{
	return __atomic_load_n(&rounds, __ATOMIC_RELAXED);
}

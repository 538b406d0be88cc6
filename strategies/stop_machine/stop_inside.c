/*
 * strategies/stop_machine/stop_inside.c — is a stopped CPU inside a site?
 * The check that makes stop-machine-nmi safe for multi-instruction sites
 * (patch_strategy.multi_insn; Jan Beulich's point in seed 000).
 *
 * Stopping every other CPU in an NMI keeps them from EXECUTING a site
 * while it is written, but not from being IN one: a CPU stopped after the
 * first of a site's instructions resumes, once released, at the second
 * instruction's address, in bytes that are now the other variant's (a
 * torn sequence: the first half of the old, the rest of the new, or a
 * jump into the middle of a new instruction). A CPU interrupted in an IRQ
 * or exception handler that itself interrupted the site resumes there
 * later in the same way. So each stopped CPU reports the RIP of every
 * context it interrupted (stop_machine_trap.c: report_rips), and the
 * patcher writes only when none of them lies strictly inside a site:
 *
 *   patching CPU                        CPU c (thread at site+5 of 10)
 *   ------------                        ------------------------------
 *   NMI all but self ------------->     stop_on_nmi: rips[c] = {site+5}
 *   wait: arrived = all       <-----    join 'arrived'; spin
 *   stop_cpu_inside(): c at site+5
 *   hazard++; release = 1 -------->     leave (IRET to site+5): runs the
 *   wait: left = all          <-----    old rest, as it should
 *   back off; stop again ---------->    (now elsewhere, with luck)
 *   ... no CPU inside: write, release
 *
 * A RIP equal to a site's first byte is not inside: that CPU runs the
 * whole new sequence. Thread context, text_lock held, every other CPU
 * stopped (the rips are published by their 'arrived' bits).
 */
#include "kernel/cmdline.h"
#include "kernel/percpu.h"
#include "strategies/stop_machine/stop_machine.h"

bool stop_unsafe_inside;
KPARAM_BOOL("patch.unsafe_inside", stop_unsafe_inside,
	    "0|1: lab knob: stop-machine-nmi writes multi-instruction sites even with a stopped CPU inside one "
	    "(default 0; shows the torn sequences its check prevents)");

/* The site of b (sorted by address) whose tail (addr, addr+len) holds rip. */
static const struct poke_site *site_around(const struct poke_batch *b, uint64_t rip)
{
	uint32_t lo = 0, hi = b->nr;
	while (lo < hi) {                       /* the last site starting before rip */
		uint32_t mid = (lo + hi) / 2;
		if (b->sites[mid].addr < rip)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	const struct poke_site *s = &b->sites[lo - 1];
	return rip > s->addr && rip < s->addr + s->len ? s : NULL;
}

bool stop_cpu_inside(const struct poke_batch *b, unsigned *cpu, uint64_t *rip, const struct poke_site **site)
{
	unsigned me = cpu_id();
	for_each_cpu_in(c, &cpu_online_mask) {
		if (c == me)
			continue;
		uint32_t n = __atomic_load_n(&stop_state.nr_rips[c], __ATOMIC_ACQUIRE);
		for (uint32_t d = 0; d < n; d++) {
			const struct poke_site *s = site_around(b, stop_state.rips[c][d]);
			if (s) {
				*cpu = c;
				*rip = stop_state.rips[c][d];
				*site = s;
				return true;
			}
		}
	}
	return false;
}

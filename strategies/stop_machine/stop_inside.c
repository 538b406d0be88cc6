/*
 * strategies/stop_machine/stop_inside.c — no stopped CPU inside a site:
 * the check that makes stop-machine-nmi safe for multi-instruction sites
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
 * patcher writes only when none lies strictly inside a site. A CPU that
 * does goes on alone, briefly, and is stopped again; the others stay
 * stopped (releasing everybody would rarely find all of them outside a
 * hot site at once: with 7 CPUs each inside a third of the time, 1 stop
 * in 2000):
 *
 *   patching CPU                        CPU c (thread at site+7 of 10)
 *   ------------                        ------------------------------
 *   (every other CPU stopped; c's rips = {site+7})
 *   c inside: hazard++, round++
 *   left -= c; kick += c  ---------->   leaves its spin: sync_core;
 *   wait: c in left (deadline) <----    left += c; IRET to site+7: runs
 *   kick -= c; arrived -= c;            the OLD rest (nothing written yet)
 *   left -= c; back off                 ... runs on, out of the site
 *   NMI to c (NMI_PATCH)  ---------->   stop_on_nmi: rips[c] = {RIP}
 *   wait: c in arrived (deadline) <--   arrived += c; spin
 *   c outside (or inside again: repeat, STOP_INSIDE_TRIES at most)
 *   ... no CPU inside: write, release all
 *
 * A RIP equal to a site's first byte is not inside: that CPU runs the
 * whole new sequence. Thread context, text_lock held.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/format.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/string.h"
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

/* The first stopped CPU inside a site of b: its RIP, the site, and
 * whether that RIP was in a frame under its innermost one. */
static bool cpu_inside(const struct poke_batch *b, unsigned *cpu, uint64_t *rip, const struct poke_site **site,
		       bool *nested)
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
				*nested = d + 1 < n;
				return true;
			}
		}
	}
	return false;
}

#define STOP_CPU_TIMEOUT_US 10000000ull /* then panic, naming the CPU */
#define STOP_BACKOFF_US     5           /* times the CPU's try number */

/* Wait until CPU c is in mask m; panic naming it and its RIP after the
 * deadline. */
static void wait_cpu(const struct cpumask *m, unsigned c, const char *what)
{
	uint64_t deadline = tsc_deadline_us(STOP_CPU_TIMEOUT_US);
	while (!cpumask_test(m, c)) {
		if (tsc_expired(deadline)) {
			struct cpumask one;
			cpumask_clear_all(&one);
			cpumask_set(&one, c);
			cpus_report_where(&one, what);
			panic("stop-machine-nmi: CPU %u did not %s within %llu ms", c, what, STOP_CPU_TIMEOUT_US / 1000);
		}
		cpu_relax();
	}
}

int stop_move_out(const struct patch_strategy *self, struct poke_batch *b, struct poke_stats *st)
{
	static uint32_t tries[MAX_CPUS];
	unsigned c;
	uint64_t rip;
	const struct poke_site *site;
	bool nested;
	uint64_t t0 = rdtsc();

	memset(tries, 0, sizeof(tries));
	while (cpu_inside(b, &c, &rip, &site, &nested)) {
		patch_hazard(STOP_HAZARD_INSIDE_RETRY);
		if (nested)
			patch_hazard(STOP_HAZARD_INSIDE_NESTED);
		st->cycles_sync[st->rounds < POKE_ROUNDS_MAX - 1 ? st->rounds : POKE_ROUNDS_MAX - 1] = rdtsc() - t0;
		st->rounds++;
		if (++tries[c] == STOP_INSIDE_TRIES) {
			snprintf(b->why, sizeof(b->why), "%#lx: %s: CPU %u was inside it at each of %u stops, the last "
				 "time at RIP %#lx, byte %lu of the %u-byte site (strategy %s)", site->addr,
				 patch_strerror(PATCH_EINSIDE_SEQ), c, tries[c], rip, (unsigned long)(rip - site->addr),
				 site->len, self->name);
			return -PATCH_EINSIDE_SEQ;
		}
		/* c alone goes on (nothing is written yet: it runs the old rest) */
		cpumask_clear(&stop_state.left, c);
		cpumask_set(&stop_state.kick, c);
		wait_cpu(&stop_state.left, c, "leave the stop alone");
		cpumask_clear(&stop_state.kick, c);
		cpumask_clear(&stop_state.arrived, c);
		cpumask_clear(&stop_state.left, c);
		__atomic_store_n(&stop_state.nr_rips[c], 0, __ATOMIC_RELEASE);
		uint64_t back_off = tsc_deadline_us(STOP_BACKOFF_US * tries[c]);
		while (!tsc_expired(back_off))
			cpu_relax();
		/* and is stopped again */
		nmi_send(c, NMI_PATCH);
		wait_cpu(&stop_state.arrived, c, "stop again");
	}
	return 0;
}

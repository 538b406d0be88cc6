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
 *   want_seq[c]++ (its next report)     the OLD rest (nothing written yet)
 *   kick -= c; arrived -= c;
 *   left -= c; back off                 ... runs on, out of the site
 *   NMI to c (NMI_PATCH)  ---------->   stop_on_nmi: report[c] = {RIP},
 *                                       seq = want_seq[c]
 *   wait: c in arrived (deadline) <--   arrived += c; spin
 *   c outside (or inside again: repeat, STOP_INSIDE_TRIES at most)
 *   ... no CPU inside: write, release all
 *
 * A RIP equal to a site's first byte is not inside: that CPU runs the
 * whole new sequence; unless the old first instruction is a REP string op
 * the new bytes do not repeat (poke_site.start_inside): a CPU interrupted
 * between its iterations is at that RIP with RCX/RSI/RDI partly advanced,
 * and would run the new sequence on that state. A CPU whose report cannot tell (a handler was
 * entering or leaving when it stopped, so a frame may be missing, or it
 * was nested deeper than the frames kept: report_rips) counts as inside:
 * unknown = inside. Thread context, text_lock held.
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

/* The site of b (sorted by address) whose tail (addr, addr+len) holds
 * rip, or whose start is rip when a CPU there may be partway through its
 * first instruction (start_inside: an interrupted REP string op). */
static const struct poke_site *site_around(const struct poke_batch *b, uint64_t rip)
{
	uint32_t lo = 0, hi = b->nr;
	while (lo < hi) {                       /* the last site starting at or before rip */
		uint32_t mid = (lo + hi) / 2;
		if (b->sites[mid].addr <= rip)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	const struct poke_site *s = &b->sites[lo - 1];
	return (rip > s->addr || s->start_inside) && rip < s->addr + s->len ? s : NULL;
}

/* Why a stopped CPU counts as inside: its report puts it in a site, or
 * the report cannot tell (then it is treated as inside: kicked, stopped
 * again, and it reports afresh). */
enum inside_why { INSIDE_SITE, INSIDE_STALE, INSIDE_UNKNOWN };

struct inside {
	unsigned cpu;
	uint64_t rip;                   /* INSIDE_SITE: the RIP in the site; INSIDE_UNKNOWN: the entry path's */
	const struct poke_site *site;   /* INSIDE_SITE only */
	bool nested;                    /* that RIP was in a frame under its innermost one */
	enum inside_why why;
};

/* The first stopped CPU inside a site of b, or whose report cannot tell
 * (a handler entering or leaving, or nested too deep: report_rips), or is
 * not the answer to the patcher's last stop of it (cannot be, see
 * stop_move_out): those count as inside. */
static bool cpu_inside(const struct poke_batch *b, struct inside *in)
{
	unsigned me = cpu_id();
	for_each_cpu_in(c, &cpu_online_mask) {
		if (c == me)
			continue;
		const struct stop_report *rep = &stop_state.report[c];
		in->cpu = c;
		in->rip = 0;
		in->site = NULL;
		in->nested = false;
		if (__atomic_load_n(&rep->seq, __ATOMIC_ACQUIRE) != __atomic_load_n(&stop_state.want_seq[c],
										     __ATOMIC_RELAXED)) {
			in->why = INSIDE_STALE;
			return true;
		}
		if (rep->unknown != STOP_KNOWN) {       /* stop_machine_trap.c: report_rips */
			in->rip = rep->unknown_rip;
			in->why = INSIDE_UNKNOWN;
			return true;
		}
		for (uint32_t d = 0; d < rep->n; d++) {
			const struct poke_site *s = site_around(b, rep->rips[d]);
			if (s) {
				in->rip = rep->rips[d];
				in->site = s;
				in->nested = d + 1 < rep->n;
				in->why = INSIDE_SITE;
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

/* -PATCH_EINSIDE_SEQ: in->cpu was inside (or could not tell) at each of
 * STOP_INSIDE_TRIES stops; the why in b->why. */
static int give_up(const struct patch_strategy *self, struct poke_batch *b, const struct inside *in, uint32_t tries)
{
	if (in->why == INSIDE_SITE)
		snprintf(b->why, sizeof(b->why), "%#lx: %s: CPU %u was inside it at each of %u stops, the last "
			 "time at RIP %#lx, byte %lu of the %u-byte site (strategy %s)", in->site->addr,
			 patch_strerror(PATCH_EINSIDE_SEQ), in->cpu, tries, in->rip,
			 (unsigned long)(in->rip - in->site->addr), in->site->len, self->name);
	else if (in->why == INSIDE_UNKNOWN)
		snprintf(b->why, sizeof(b->why), "%#lx: %s: CPU %u could not tell where it stopped at each of %u "
			 "stops (a handler entering or leaving, the last time at RIP %#lx, or nested deeper than %u) "
			 "(strategy %s)", b->sites[0].addr, patch_strerror(PATCH_EINSIDE_SEQ), in->cpu, tries,
			 in->rip, STOP_RIPS_MAX, self->name);
	else
		snprintf(b->why, sizeof(b->why), "%#lx: %s: CPU %u's report of where it stopped was %s at each of "
			 "%u stops (strategy %s)", b->sites[0].addr, patch_strerror(PATCH_EINSIDE_SEQ), in->cpu,
			 "stale (not the answer to the last stop)", tries, self->name);
	return -PATCH_EINSIDE_SEQ;
}

/*
 * A re-stop, and why its report cannot be lost: the patcher asks for a new
 * report (want_seq[c]++) BEFORE it clears arrived[c], and a CPU answers
 * (report_rips copies want_seq) only when it begins to spin, which it does
 * only with arrived[c] clear. So any report c makes after the clear, for
 * whatever NMI (the patcher's, or its own perf/watchdog/storm NMI taken
 * first), carries the new number and is the one the patcher reads; the
 * one from before carries the old number and is never used. Nothing is
 * zeroed after the clear (zeroing n there once wiped a fresh report):
 *
 *   patching CPU                        CPU c (kicked; own NMI pending)
 *   ------------                        -------------------------------
 *   wait: c in left  <--------------    left += c; IRET to site+3
 *   want_seq[c] = s+1                   its own NMI, at site+3: arrived
 *   kick -= c; arrived -= c; left -= c  still holds c: no spin; IRET
 *   (an IRQ here, any length)           its own NMI again, at site+3:
 *                                       report {site+3}, seq s+1;
 *                                       arrived += c; spin
 *   NMI to c (pending: it spins)
 *   wait: c in arrived, seq s+1  <---
 *   c at site+3: inside -> again
 */
int stop_move_out(const struct patch_strategy *self, struct poke_batch *b, struct poke_stats *st)
{
	static uint32_t tries[MAX_CPUS];
	struct inside in;
	uint64_t t0 = rdtsc();

	memset(tries, 0, sizeof(tries));
	while (cpu_inside(b, &in)) {
		unsigned c = in.cpu;
		patch_hazard(STOP_HAZARD_INSIDE_RETRY);
		if (in.nested)
			patch_hazard(STOP_HAZARD_INSIDE_NESTED);
		if (in.why == INSIDE_UNKNOWN)
			patch_hazard(STOP_HAZARD_INSIDE_UNKNOWN);
		st->cycles_sync[st->rounds < POKE_ROUNDS_MAX - 1 ? st->rounds : POKE_ROUNDS_MAX - 1] = rdtsc() - t0;
		st->rounds++;
		if (++tries[c] == STOP_INSIDE_TRIES)
			return give_up(self, b, &in, tries[c]);
		/* c alone goes on (nothing is written yet: it runs the old rest) */
		cpumask_clear(&stop_state.left, c);
		cpumask_set(&stop_state.kick, c);
		wait_cpu(&stop_state.left, c, "leave the stop alone");
		/* the next report c makes answers this re-stop (timeline above) */
		__atomic_fetch_add(&stop_state.want_seq[c], 1, __ATOMIC_SEQ_CST);
		cpumask_clear(&stop_state.kick, c);
		cpumask_clear(&stop_state.arrived, c);
		cpumask_clear(&stop_state.left, c);
		uint64_t back_off = tsc_deadline_us(STOP_BACKOFF_US * tries[c]);
		while (!tsc_expired(back_off))
			cpu_relax();
		/* and is stopped again */
		nmi_send(c, NMI_PATCH);
		wait_cpu(&stop_state.arrived, c, "stop again");   /* its report: seq, checked by cpu_inside */
	}
	return 0;
}

/*
 * lab/stall.c — see stall.h (the timeline is there).
 */
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/percpu.h"
#include "lab/crew.h"
#include "lab/stall.h"

static uint32_t epoch;                  /* the measurement: stall_start() */
static uint64_t gen;                    /* odd while a batch is in flight */

/* Per bystander, written by that CPU only (but by the patcher in
 * stall_close(), once it has stopped): a line each. */
static struct {
	uint32_t epoch;                 /* of its figures */
	uint64_t last;                  /* TSC at its last tick; 0: no gap open */
	uint64_t last_gen;              /* gen at its last tick */
	uint64_t naps;                  /* crew_naps() at its last tick */
	uint64_t batch;                 /* the batch (an odd gen) of the open sample; 0: none */
	uint64_t max;                   /* the open sample: its longest gap in that batch */
	uint64_t seen;                  /* gen after its last tick, for stall_settle() */
	struct hist hist;
} __attribute__((aligned(64))) per[MAX_CPUS];

static const struct hist empty;

void stall_start(void)
{
	__atomic_fetch_add(&epoch, 1, __ATOMIC_SEQ_CST);
}

void stall_flight(bool in)
{
	/* Odd from the start of a batch to its end; a bystander that reads
	 * gen on both sides of a gap sees whether a batch overlapped it. */
	uint64_t g = __atomic_load_n(&gen, __ATOMIC_RELAXED);
	if ((g & 1) != in)
		__atomic_store_n(&gen, g + 1, __ATOMIC_SEQ_CST);
}

static void close_sample(unsigned cpu)
{
	if (per[cpu].batch) {
		hist_add(&per[cpu].hist, per[cpu].max);
		per[cpu].batch = 0;
		per[cpu].max = 0;
	}
}

static void tick(unsigned cpu, bool gap_counts)
{
	uint64_t now = rdtsc(), g = __atomic_load_n(&gen, __ATOMIC_ACQUIRE);
	uint32_t e = __atomic_load_n(&epoch, __ATOMIC_ACQUIRE);
	if (per[cpu].epoch != e) {              /* a new measurement: clear my figures */
		hist_clear(&per[cpu].hist);
		per[cpu].batch = per[cpu].max = 0;
		per[cpu].last = 0;
		per[cpu].epoch = e;
	}
	uint64_t naps = crew_naps(cpu);
	if (naps != per[cpu].naps) {            /* I napped since my last tick: no stall */
		per[cpu].naps = naps;
		gap_counts = false;
	}
	if (gap_counts && per[cpu].last && ((per[cpu].last_gen & 1) || g != per[cpu].last_gen)) {
		uint64_t b = per[cpu].last_gen | 1, gap = now - per[cpu].last;
		if (b != per[cpu].batch) {      /* the first gap of a batch */
			close_sample(cpu);
			per[cpu].batch = b;
		}
		if (gap > per[cpu].max)
			per[cpu].max = gap;
	}
	if (per[cpu].batch && g > per[cpu].batch)
		close_sample(cpu);              /* that batch is over: no later gap overlaps it */
	per[cpu].last = now;
	per[cpu].last_gen = g;
	__atomic_store_n(&per[cpu].seen, g, __ATOMIC_RELEASE);
}

void stall_tick(unsigned cpu) { tick(cpu, true); }

void stall_resume(unsigned cpu) { tick(cpu, false); }

static bool measured(unsigned cpu)
{
	return __atomic_load_n(&per[cpu].epoch, __ATOMIC_ACQUIRE) == __atomic_load_n(&epoch, __ATOMIC_RELAXED);
}

unsigned stall_settle(uint64_t timeout_us)
{
	uint64_t want = __atomic_load_n(&gen, __ATOMIC_SEQ_CST), deadline = tsc_deadline_us(timeout_us);
	unsigned me = cpu_id();
	struct cpumask late;
	for (;;) {
		cpumask_clear_all(&late);
		for_each_cpu_in(c, &cpu_online_mask)
			if (c != me && (!measured(c) || __atomic_load_n(&per[c].seen, __ATOMIC_ACQUIRE) < want))
				cpumask_set(&late, c);
		if (cpumask_empty(&late))
			return 0;
		if (tsc_expired(deadline))
			break;
		cpu_relax();
	}
	cpus_report_where(&late, "stall: no tick since the last batch ended");
	return cpumask_weight(&late);
}

void stall_close(void)
{
	for_each_cpu_in(c, &cpu_online_mask)
		if (measured(c))
			close_sample(c);
}

const struct hist *stall_of(unsigned cpu)
{
	return measured(cpu) ? &per[cpu].hist : &empty;
}

/*
 * lab/crew.c — see crew.h.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/percpu.h"
#include "kernel/smp_call.h"
#include "lab/crew.h"

static int nap_param = -1;              /* patch.nap_us; -1: decide from the first flips */
static unsigned burst_param = 16;       /* patch.burst */
KPARAM_UINT("patch.nap_us", nap_param, 0, 100000,
	    "US: crew members (flip tests, storms) halt this long between bursts (0: never; default: 200 if "
	    "flips are slow)");
KPARAM_UINT("patch.burst", burst_param, 1, 1u << 30, "N: rounds per crew member burst (flip tests, storms; default 16)");

static struct {
	crew_job_t job;
	void *arg;
	uint32_t stop, started, members;
	uint32_t nap;                   /* current nap in us, 0: back to back */
	unsigned probe_flips;
	uint64_t probe_us;
} crew;

/* Written by its member only, read by the patcher: a line each. */
static struct {
	uint64_t beat;
	uint64_t naps;                  /* naps taken between bursts */
} __attribute__((aligned(64))) member[MAX_CPUS];

static void member_run(void *unused)
{
	(void)unused;
	unsigned me = cpu_id(), burst = burst_param;
	crew_job_t job = crew.job;
	void *arg = crew.arg;
	__atomic_fetch_add(&crew.started, 1, __ATOMIC_SEQ_CST);
	for (uint64_t round = 0; !__atomic_load_n(&crew.stop, __ATOMIC_ACQUIRE); round++) {
		job(me, round, arg);
		__atomic_store_n(&member[me].beat, member[me].beat + 1, __ATOMIC_RELEASE);
		uint32_t nap = __atomic_load_n(&crew.nap, __ATOMIC_RELAXED);
		if (nap && round % burst == burst - 1) {
			cpu_nap(nap);
			__atomic_store_n(&member[me].naps, member[me].naps + 1, __ATOMIC_RELEASE);
		}
	}
}

unsigned crew_start(crew_job_t job, void *arg)
{
	unsigned me = cpu_id(), n = 0;
	crew.job = job;
	crew.arg = arg;
	crew.stop = 0;
	crew.started = 0;
	crew.probe_flips = 0;
	crew.probe_us = 0;
	crew.nap = nap_param > 0 ? (uint32_t)nap_param : 0;
	for_each_cpu_in(c, &cpu_online_mask)
		member[c].beat = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != me && on_cpu_async(c, member_run, NULL) == 0)
			n++;
	crew.members = n;
	uint64_t deadline = tsc_deadline_us(5000000);
	while (__atomic_load_n(&crew.started, __ATOMIC_ACQUIRE) < n && !tsc_expired(deadline))
		cpu_relax();
	return n;
}

bool crew_flip_took(uint64_t us, uint64_t *avg_us)
{
	if (nap_param >= 0 || crew.members == 0 || crew.nap)
		return false;
	crew.probe_us += us;
	crew.probe_flips++;
	/* The window is slow as soon as its flips so far took more than all
	 * of it may: no need to wait for the rest (a flip can take 500 ms). */
	bool slow = crew.probe_us > (uint64_t)CREW_PROBE_FLIPS * CREW_SLOW_FLIP_US;
	if (!slow && crew.probe_flips < CREW_PROBE_FLIPS)
		return false;
	uint64_t avg = crew.probe_us / crew.probe_flips;
	crew.probe_flips = 0;           /* the next window */
	crew.probe_us = 0;
	if (!slow)
		return false;
	__atomic_store_n(&crew.nap, CREW_NAP_US, __ATOMIC_RELAXED);
	if (avg_us)
		*avg_us = avg;
	return true;
}

uint64_t crew_heartbeat(unsigned cpu) { return __atomic_load_n(&member[cpu].beat, __ATOMIC_ACQUIRE); }

uint64_t crew_naps(unsigned cpu) { return __atomic_load_n(&member[cpu].naps, __ATOMIC_ACQUIRE); }

uint32_t crew_nap_us(void) { return __atomic_load_n(&crew.nap, __ATOMIC_RELAXED); }

unsigned crew_burst(void) { return burst_param; }

void crew_stop(int abandon_cpu)
{
	unsigned me = cpu_id();
	__atomic_store_n(&crew.stop, 1, __ATOMIC_RELEASE);
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != me && cpu_work_pending(c)) {
			if ((int)c == abandon_cpu)
				cpu_abort_work(c);
			else
				cpu_wait_done(c, 5000000);
		}
}

/*
 * lab/crew.h — the bystander crew: while this CPU patches, every other
 * online CPU runs a job over and over (call a fixture site and check what
 * it returned; fire NMIs and IPIs), so that the patch hits CPUs in the
 * middle of the sites it changes. Used by the flip tests
 * (tests/kernel/test_patch_flip.c) and the storms (lab/storm.c).
 *
 * Naps. Rendezvous rounds need every CPU to run; with more vCPUs than host
 * cores a member that never sleeps is scheduled once per host time slice,
 * and every round waits out whole slices (about 50 ms a flip at -smp 8 on
 * 2 cores). So the crew starts back to back, and the patcher reports how
 * long each flip took (crew_flip_took): once a window of CREW_PROBE_FLIPS
 * flips averages more than CREW_SLOW_FLIP_US (known as soon as the flips so
 * far took longer than the whole window may), the members switch to bursts of
 * patch.burst rounds with a patch.nap_us halt between bursts (under 1 ms a
 * flip): a halted vCPU is woken at once by the next IPI and runs its burst
 * while the site is in transition, so the window is hit as often (see the
 * emulation counts). patch.nap_us=N fixes the nap from the start (0: never
 * nap).
 *
 * One crew at a time, started and stopped by one patching CPU in thread
 * context.
 */
#ifndef XPOKE_LAB_CREW_H
#define XPOKE_LAB_CREW_H

#include <stdbool.h>
#include <stdint.h>

#define CREW_PROBE_FLIPS    8           /* flips in one window of the decision */
#define CREW_SLOW_FLIP_US   3000        /* average above which the crew naps */
#define CREW_NAP_US         200         /* the nap it then takes */

/* One round of a member's job, on CPU cpu (thread context, IRQs on). */
typedef void (*crew_job_t)(unsigned cpu, uint64_t round, void *arg);

/* Start job on every other online CPU and wait (up to 5 s) until each
 * member runs; returns how many do. */
unsigned crew_start(crew_job_t job, void *arg);

/* The patcher: one flip took us microseconds. True when this report
 * switched the crew to naps (*avg_us: the average that decided it). */
bool crew_flip_took(uint64_t us, uint64_t *avg_us);

/* Rounds completed by the member on cpu (its heartbeat). */
uint64_t crew_heartbeat(unsigned cpu);

/* Naps the member on cpu has taken between bursts (since boot): a gap
 * in its loop across one is a nap, not a stall (lab/stall.h). */
uint64_t crew_naps(unsigned cpu);

/* The nap between bursts now (0: back to back) and the burst length. */
uint32_t crew_nap_us(void);
unsigned crew_burst(void);

/* Stop every member and wait for each (5 s); the member on abandon_cpu
 * (-1: none), which makes no progress, has its work aborted instead. */
void crew_stop(int abandon_cpu);

#endif

/*
 * lab/stall.h — bystander stall: how long a patch holds up the other CPUs.
 *
 * Every bystander (a crew member: lab/crew.h) times the gaps in its own
 * loop; the patcher marks each batch in flight. A bystander's stall for
 * one batch is its longest gap that overlapped the batch; each is one
 * sample of that CPU's distribution (a histogram, lab/hist.h: bounded
 * memory, percentiles and a CDF). A gap that spans several batches counts
 * once, for the first; a gap across the crew's nap between bursts is not
 * a stall and is not counted.
 *
 *   patcher                               bystander (each, in its loop)
 *   -------                               -----------------------------
 *   stall_start(): epoch++                sees the new epoch: clears its own figures
 *   stall_flight(true): gen++ (odd)       tick: gap = now - last; if it overlapped a
 *     ... the batch ...                     batch (gen odd at either end, or changed),
 *   stall_flight(false): gen++ (even)       its max for that batch; the first tick
 *                                           after the batch ended adds that max to
 *                                           the histogram
 *   stall_settle() (bystanders still      seen = gen, after every tick
 *     running): wait until each has
 *     seen the last gen; or
 *   stall_close() (bystanders stopped):
 *     add their open samples itself
 *   stall_of(cpu): read
 *
 * Each bystander writes only its own figures; the patcher reads them after
 * stall_settle() or stall_close(). Thread context throughout.
 */
#ifndef XPOKE_LAB_STALL_H
#define XPOKE_LAB_STALL_H

#include <stdbool.h>
#include <stdint.h>
#include "lab/hist.h"

/* Patcher: a new measurement (every bystander's figures cleared by itself
 * at its next tick). */
void stall_start(void);

/* Patcher: a batch begins (true) or ends (false). */
void stall_flight(bool in);

/* Bystander on cpu: one more pass of its loop. A crew member after its nap
 * (crew_naps() changed since its last tick) starts a new gap instead. */
void stall_tick(unsigned cpu);

/* Bystander: its loop (re)starts after a pause that is not a stall. */
void stall_resume(unsigned cpu);

/* Patcher, bystanders still running: wait (at most timeout_us) until every
 * other online CPU has ticked in this measurement, and since the last
 * batch ended, so its last sample is in (called before the first batch:
 * until each has ticked once, so none misses it). Those that have not are
 * named with their RIP; returns how many. */
unsigned stall_settle(uint64_t timeout_us);

/* Patcher, bystanders stopped: add every open sample. */
void stall_close(void);

/* The samples of cpu in this measurement (TSC cycles); an empty histogram
 * if it never ticked. */
const struct hist *stall_of(unsigned cpu);

#endif

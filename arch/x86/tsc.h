/*
 * arch/x86/tsc.h — time from the TSC: calibration, delays, deadlines.
 *
 * xpoke has no periodic tick. Every wait computes a TSC deadline up front
 * and polls it; all of this is lock-free and NMI-safe.
 */
#ifndef XPOKE_ARCH_X86_TSC_H
#define XPOKE_ARCH_X86_TSC_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/cpu.h"

/* TSC frequency in kHz. Before calibration a high guess (4 GHz) is used, so
 * early deadlines err on the long side. */
extern uint64_t tsc_khz;

void tsc_calibrate(void);

/* TSC cycles elapsed while PIT channel 2 counts down ms (1..50) milliseconds;
 * 0 if the PIT never reaches terminal count. */
uint64_t pit_measure_tsc(unsigned ms);

static inline uint64_t tsc_deadline_us(uint64_t us) { return rdtsc() + us * tsc_khz / 1000; }
static inline bool tsc_expired(uint64_t deadline) { return (int64_t)(rdtsc() - deadline) >= 0; }
static inline uint64_t tsc_to_us(uint64_t cycles) { return cycles * 1000 / tsc_khz; }
static inline uint64_t tsc_to_ns(uint64_t cycles) { return cycles * 1000000 / tsc_khz; }  /* below ~2 hours */
static inline uint64_t tsc_to_ms(uint64_t cycles) { return cycles / tsc_khz; }

static inline void udelay(uint64_t us)
{
	uint64_t d = tsc_deadline_us(us);
	while (!tsc_expired(d))
		cpu_relax();
}

static inline void mdelay(uint64_t ms) { udelay(ms * 1000); }

/* TSC value when the BSP entered C (kernel/main.c), for boot-time figures. */
extern uint64_t tsc_at_boot;

#endif

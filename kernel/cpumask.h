/*
 * kernel/cpumask.h — a bitmap with one bit per logical CPU.
 *
 * The atomic variants (lock-prefixed) are safe from any context, NMI included.
 */
#ifndef XPOKE_KERNEL_CPUMASK_H
#define XPOKE_KERNEL_CPUMASK_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/layout.h"

#define CPUMASK_WORDS (MAX_CPUS / 64)

struct cpumask {
	uint64_t bits[CPUMASK_WORDS];
};

static inline void cpumask_clear_all(struct cpumask *m)
{
	for (int i = 0; i < CPUMASK_WORDS; i++)
		m->bits[i] = 0;
}

static inline bool cpumask_test(const struct cpumask *m, unsigned cpu)
{
	return (__atomic_load_n(&m->bits[cpu / 64], __ATOMIC_ACQUIRE) >> (cpu % 64)) & 1;
}

static inline void cpumask_set(struct cpumask *m, unsigned cpu)
{
	__atomic_fetch_or(&m->bits[cpu / 64], 1ull << (cpu % 64), __ATOMIC_SEQ_CST);
}

static inline void cpumask_clear(struct cpumask *m, unsigned cpu)
{
	__atomic_fetch_and(&m->bits[cpu / 64], ~(1ull << (cpu % 64)), __ATOMIC_SEQ_CST);
}

static inline bool cpumask_empty(const struct cpumask *m)
{
	for (int i = 0; i < CPUMASK_WORDS; i++)
		if (__atomic_load_n(&m->bits[i], __ATOMIC_ACQUIRE))
			return false;
	return true;
}

static inline unsigned cpumask_weight(const struct cpumask *m)
{
	unsigned n = 0;
	for (int i = 0; i < CPUMASK_WORDS; i++)
		for (uint64_t w = __atomic_load_n(&m->bits[i], __ATOMIC_ACQUIRE); w; w &= w - 1)
			n++;    /* no libgcc: count bits by hand */
	return n;
}

static inline void cpumask_copy(struct cpumask *dst, const struct cpumask *src)
{
	for (int i = 0; i < CPUMASK_WORDS; i++)
		__atomic_store_n(&dst->bits[i], __atomic_load_n(&src->bits[i], __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
}

/* Next set bit at or after cpu, or MAX_CPUS. */
static inline unsigned cpumask_next(const struct cpumask *m, unsigned cpu)
{
	for (; cpu < MAX_CPUS; cpu++)
		if (cpumask_test(m, cpu))
			return cpu;
	return MAX_CPUS;
}

#define for_each_cpu_in(c, m) \
	for (unsigned c = cpumask_next((m), 0); c < MAX_CPUS; c = cpumask_next((m), c + 1))

#endif

/*
 * kernel/spinlock.c — see spinlock.h.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/spinlock.h"

bool spin_trylock(spinlock_t *l)
{
	uint32_t expect = 0;
	if (!__atomic_compare_exchange_n(&l->owner, &expect, cpu_id() + 1, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return false;
	this_cpu()->locks_held++;
	return true;
}

void spin_lock(spinlock_t *l)
{
	spin_lock_timeout(l, SPIN_TIMEOUT_MS);
}

void spin_lock_timeout(spinlock_t *l, uint32_t timeout_ms)
{
	if (in_nmi() || in_mce())
		panic("spin_lock(%s) in NMI/#MC context: the interrupted context may hold it", l->name);
	if (spin_held_by_me(l))
		panic("spin_lock(%s): CPU %u already holds it", l->name, cpu_id());
	uint64_t deadline = tsc_deadline_us(timeout_ms * 1000ull);
	while (!spin_trylock(l)) {
		if (tsc_expired(deadline)) {
			uint32_t holder = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
			if (holder) {
				struct cpumask m;
				cpumask_clear_all(&m);
				cpumask_set(&m, holder - 1);
				cpus_report_where(&m, "lock holder");
			}
			panic("spin_lock(%s): not acquired within %u ms; held by CPU %d",
			      l->name, timeout_ms, (int)holder - 1);
		}
		cpu_relax();
	}
}

void spin_unlock(spinlock_t *l)
{
	if (!spin_held_by_me(l))
		panic("spin_unlock(%s): CPU %u does not hold it", l->name, cpu_id());
	this_cpu()->locks_held--;
	__atomic_store_n(&l->owner, 0, __ATOMIC_RELEASE);
}

bool spin_held_by_me(const spinlock_t *l)
{
	return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == cpu_id() + 1;
}

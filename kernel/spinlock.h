/*
 * kernel/spinlock.h — test-and-set spinlock that knows its holder.
 *
 * Never taken on the NMI, #MC or #BP paths (spin_lock checks). A wait longer
 * than SPIN_TIMEOUT_MS panics, naming the holder CPU and where it is.
 */
#ifndef XPOKE_KERNEL_SPINLOCK_H
#define XPOKE_KERNEL_SPINLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define SPIN_TIMEOUT_MS 5000

typedef struct spinlock {
	uint32_t owner;         /* holder's CPU number + 1, or 0 */
	const char *name;
} spinlock_t;

#define SPINLOCK_INIT(n) { 0, (n) }

void spin_lock(spinlock_t *l);
/* spin_lock with its own limit, for locks held across long operations. */
void spin_lock_timeout(spinlock_t *l, uint32_t timeout_ms);
bool spin_trylock(spinlock_t *l);
void spin_unlock(spinlock_t *l);
bool spin_held_by_me(const spinlock_t *l);

#endif

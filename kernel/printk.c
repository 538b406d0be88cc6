/*
 * kernel/printk.c — lock-free multi-producer console ring.
 *
 * Nomenclature:
 *   ticket  a 64-bit position in the record stream; slot = ticket % LOG_SLOTS
 *   head    next ticket a producer may reserve (producers, cmpxchg)
 *   tail    next ticket the drainer prints (console owner only)
 *   lap(t)  t rounded down to a multiple of LOG_SLOTS
 *   seq     per-slot state: == lap(t)      free for ticket t
 *                           == lap(t) + 1  ticket t committed, ready to print
 *           (zero-initialised .bss is "every slot free for lap 0", so
 *           printk works before any init code has run)
 *   owner   CPU number + 1 of the CPU draining the ring, 0 if none
 *
 * A producer reserves k consecutive slots with one cmpxchg on head (checking
 * first that all k are free), copies its text, then publishes each slot with
 * a release store of seq = lap(t) + 1. The owner prints slots in ticket order
 * and stops at the first slot that is not yet committed; it then frees each
 * printed slot for the next lap with seq = lap(t) + LOG_SLOTS. A record that
 * needs several slots marks all but the first as continuations.
 *
 * Lost-wakeup freedom — both sides use full barriers (lock cmpxchg / xchg):
 *
 *   producer                         drainer (owner)
 *   --------                         ---------------
 *   store seq = t+1 (commit)         sees slot t uncommitted, stops
 *   trylock owner  ---------\        xchg owner = 0 (release)
 *     fails: owner busy      \-----> re-reads slot t: committed? retry trylock
 *
 * Either the producer's trylock succeeds (it drains itself) or the drainer's
 * re-check after unlocking sees the commit. Nobody ever spins on owner.
 *
 * When the ring is full a producer in a context that may wait (the owner is
 * another CPU) retries until a deadline; a producer that interrupted its own
 * CPU's drain cannot wait, so its record is dropped and counted, and the next
 * drain prints how many were dropped: loss is never silent.
 */
#include <stdarg.h>
#include <stdbool.h>
#include "arch/x86/cpu.h"
#include "arch/x86/serial.h"
#include "arch/x86/tsc.h"
#include "kernel/format.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/recover.h"
#include "kernel/string.h"

#define LOG_SLOTS       2048            /* 512 KiB */
#define LOG_SLOT_DATA   244
#define PRINTK_MAX      1024            /* longest single printk */
#define FULL_WAIT_US    200000

#define SLOT_CONT       0x80000000u     /* in len: continues the previous slot */

struct log_slot {
	uint64_t seq;
	uint32_t len;
	char data[LOG_SLOT_DATA];
};
_Static_assert(sizeof(struct log_slot) == 256, "log slot is 256 bytes");

static struct log_slot log_ring[LOG_SLOTS];
static uint64_t log_head;
static uint64_t log_tail;
static uint32_t console_owner;
static uint64_t stat_records, stat_dropped, stat_deferred_self, dropped_reported;
static struct console_capture *capture;

static struct log_slot *slot_of(uint64_t t) { return &log_ring[t % LOG_SLOTS]; }
static uint64_t lap(uint64_t t) { return t - t % LOG_SLOTS; }
static uint64_t seq_of(uint64_t t) { return __atomic_load_n(&slot_of(t)->seq, __ATOMIC_ACQUIRE); }

/* Reserve k consecutive tickets; false if any of their slots is still in use. */
static bool log_reserve(uint32_t k, uint64_t *first)
{
	uint64_t h = __atomic_load_n(&log_head, __ATOMIC_ACQUIRE);
	for (;;) {
		for (uint32_t j = 0; j < k; j++)
			if (seq_of(h + j) != lap(h + j))
				return false;
		if (__atomic_compare_exchange_n(&log_head, &h, h + k, false,
						__ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
			*first = h;
			return true;
		}
	}
}

static void sink(const char *s, size_t n, bool cont)
{
	static bool captured;   /* did the record this slot continues match? */
	struct console_capture *c = capture;
	if (!cont)
		captured = c && n >= strlen(c->prefix) && !memcmp(s, c->prefix, strlen(c->prefix));
	if (c && captured) {
		size_t room = c->size - c->len;
		size_t take = n < room ? n : room;
		memcpy(c->buf + c->len, s, take);
		c->len += take;
		c->overflow += n - take;
		if (c->quiet)
			return;
	}
	serial_write(s, n);
}

/* Print every committed record, in order. Caller owns the console. */
static void log_drain(void)
{
	for (;;) {
		uint64_t dropped = __atomic_load_n(&stat_dropped, __ATOMIC_ACQUIRE);
		if (dropped != dropped_reported) {
			char msg[80];
			int n = snprintf(msg, sizeof(msg), "printk: %llu record(s) dropped (ring full)\n",
					 (unsigned long long)(dropped - dropped_reported));
			dropped_reported = dropped;
			serial_write(msg, n);
		}
		struct log_slot *s = slot_of(log_tail);
		if (seq_of(log_tail) != lap(log_tail) + 1)
			return;
		sink(s->data, s->len & ~SLOT_CONT, s->len & SLOT_CONT);
		__atomic_store_n(&s->seq, lap(log_tail) + LOG_SLOTS, __ATOMIC_RELEASE);
		log_tail++;
	}
}

int console_trylock(void)
{
	uint32_t expect = 0;
	return __atomic_compare_exchange_n(&console_owner, &expect, cpu_id() + 1, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

static bool work_pending(void)
{
	return seq_of(log_tail) == lap(log_tail) + 1 ||
	       __atomic_load_n(&stat_dropped, __ATOMIC_ACQUIRE) != dropped_reported;
}

void console_unlock(void)
{
	for (;;) {
		log_drain();
		__atomic_exchange_n(&console_owner, 0, __ATOMIC_SEQ_CST);
		/* Partner: the producer's commit followed by its trylock. */
		if (!work_pending() || !console_trylock())
			return;
	}
}

int console_owner_cpu(void)
{
	return (int)__atomic_load_n(&console_owner, __ATOMIC_RELAXED) - 1;
}

/*
 * printk_depth counts this CPU's printk calls in progress: recovery does not
 * abandon them (recover.c), since a record reserved and never committed, or
 * a console owner that never lets go, would silence the console for good.
 * A recovery that had to wait for that runs when the outermost one returns.
 */
static void printk_enter(struct percpu *pc)
{
	pc->printk_depth++;
}

static void printk_leave(struct percpu *pc)
{
	if (--pc->printk_depth == 0 && pc->recover_at_printk_exit)
		recover_deferred();
}

void console_flush(void)
{
	struct percpu *pc = this_cpu();
	printk_enter(pc);
	if (console_trylock())
		console_unlock();
	printk_leave(pc);
}

void console_panic_flush(void)
{
	__atomic_store_n(&console_owner, cpu_id() + 1, __ATOMIC_SEQ_CST);
	log_drain();
	__atomic_store_n(&console_owner, 0, __ATOMIC_SEQ_CST);
}

static bool owned_by_me(void)
{
	return __atomic_load_n(&console_owner, __ATOMIC_ACQUIRE) == cpu_id() + 1;
}

/* Any context. No lock, never spins on one; nothing patchable (no-patch
 * region). Inside printk_enter/leave: recovery never abandons it between
 * reservation and commit. */
static void log_commit(const char *text, size_t len)
{
	uint32_t k = (uint32_t)((len + LOG_SLOT_DATA - 1) / LOG_SLOT_DATA);
	uint64_t t;
	uint64_t deadline = 0;
	struct percpu *pc = this_cpu();

	printk_enter(pc);
	while (!log_reserve(k, &t)) {
		/* Full. Waiting is only possible if someone else can drain. */
		if (owned_by_me()) {
			__atomic_fetch_add(&stat_dropped, 1, __ATOMIC_SEQ_CST);
			printk_leave(pc);
			return;
		}
		console_flush();
		if (!deadline)
			deadline = tsc_deadline_us(FULL_WAIT_US);
		else if (tsc_expired(deadline)) {
			__atomic_fetch_add(&stat_dropped, 1, __ATOMIC_SEQ_CST);
			printk_leave(pc);
			return;
		}
		cpu_relax();
	}
	for (uint32_t j = 0; j < k; j++) {
		struct log_slot *s = slot_of(t + j);
		size_t off = (size_t)j * LOG_SLOT_DATA;
		size_t n = len - off < LOG_SLOT_DATA ? len - off : LOG_SLOT_DATA;
		memcpy(s->data, text + off, n);
		s->len = (uint32_t)n | (j ? SLOT_CONT : 0);
	}
	/* Commit in order: the drainer must never see slot j+1 before slot j. */
	for (uint32_t j = 0; j < k; j++)
		__atomic_store_n(&slot_of(t + j)->seq, lap(t + j) + 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&stat_records, 1, __ATOMIC_RELAXED);
	if (in_interrupt() && owned_by_me())
		__atomic_fetch_add(&stat_deferred_self, 1, __ATOMIC_RELAXED);
	console_flush();
	printk_leave(pc);
}

/* NMI/#MC/#BP-safe: formats on the stack, takes no lock, never spins on one. */
int printk(const char *fmt, ...)
{
	char buf[PRINTK_MAX];
	struct percpu *pc = this_cpu();
	va_list ap;
	printk_enter(pc);
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	size_t len = n < (int)sizeof(buf) - 1 ? (size_t)n : sizeof(buf) - 2;
	if (len == sizeof(buf) - 2)
		memcpy(buf + len - 3, "...", 3);
	if (len == 0 || buf[len - 1] != '\n')
		buf[len++] = '\n';
	log_commit(buf, len);
	printk_leave(pc);
	return (int)len;
}

void console_write(const char *s, size_t n)
{
	while (n) {
		size_t chunk = n < PRINTK_MAX ? n : PRINTK_MAX;
		log_commit(s, chunk);
		s += chunk;
		n -= chunk;
	}
}

void printk_get_stats(struct printk_stats *out)
{
	out->records = __atomic_load_n(&stat_records, __ATOMIC_ACQUIRE);
	out->dropped = __atomic_load_n(&stat_dropped, __ATOMIC_ACQUIRE);
	out->deferred_self = __atomic_load_n(&stat_deferred_self, __ATOMIC_ACQUIRE);
}

void console_capture_start(struct console_capture *c)
{
	c->len = c->overflow = 0;
	__atomic_store_n(&capture, c, __ATOMIC_SEQ_CST);
}

void console_capture_stop(void)
{
	/* Drain first so everything queued under the capture is captured. */
	console_flush();
	__atomic_store_n(&capture, NULL, __ATOMIC_SEQ_CST);
}

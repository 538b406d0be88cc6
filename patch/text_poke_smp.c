/*
 * patch/text_poke_smp.c — the int3 protocol: replace instructions that other
 * CPUs may be executing right now.
 *
 * smp_text_poke_batch_finish(b), phase by phase:
 *
 *   patching CPU                                 any CPU (the patcher's own IRQ,
 *                                                NMI and #MC handlers included)
 *   ------------                                 ------------------------------
 *   take text_lock (IRQs on); recheck old bytes
 *   sort sites; publish b (seq_cst)   ------->   int3 at a site now traps to
 *                                                text_poke_bp_handler(): it finds
 *                                                the site and runs the new insn
 *   Step 1: 0xcc over every first byte
 *   sync: round 1   -- IPI VEC_SYNC ------->     serialize; ack. Nobody is left
 *                                                executing an old instruction
 *                                                fetched before the int3.
 *   Step 2: every tail (bytes 1..len-1)          int3 guards the entry; the tail
 *           (skipped when every site is 1 byte)  is never executed half-written
 *   sync: round 2   -- IPI VEC_SYNC ------->     serialize; ack. Nobody can still
 *                                                see an old tail.
 *   Step 3: the real first byte of each site     a CPU either traps (emulated) or
 *                                                runs the whole new instruction
 *   sync: round 3   -- IPI VEC_SYNC ------->     serialize; ack. No int3 left
 *                                                anywhere in anybody's view.
 *   under TCG only: rewrite every first byte     discards translations QEMU's TCG
 *   (same value)                                 made from bytes read across a
 *                                                write (see bp.c). On hardware it
 *                                                would be an unsynchronized
 *                                                cross-modifying store, so it is
 *                                                done only where TCG runs us
 *                                                (patch.tcg_rewrite)
 *   withdraw b; wait until no CPU pins it        (bp.c: per-CPU pin words)
 *   of any CPU still uses it
 *   release text_lock
 *
 * IRQs are off only while bytes are written (text_poke_many's precondition);
 * between steps, and while waiting for acknowledgements, they are on, so the
 * patching CPU takes interrupts mid-batch, and an interrupt handler that
 * runs a site in flight is emulated like anybody else.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/cpufeatures.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/format.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "patch/bp.h"
#include "patch/env.h"
#include "patch/patch.h"
#include "patch/rendezvous.h"
#include "patch/site_table.h"
#include "patch/text_poke.h"

#define POKE_BATCH_MAX      4096        /* sites in one batch */
#define TEXT_LOCK_TIMEOUT_MS 60000

const char *const poke_phase_names[PHASE_COUNT] = {
	"published", "int3-written", "int3-synced", "tails-written", "tails-synced",
	"first-written", "first-synced", "retired",
};

static void (*phase_hook)(enum poke_phase p);
uint32_t poke_current_phase = PHASE_RETIRED;
int32_t poke_patcher_cpu = -1;
static struct poke_stats stats;
static struct poke_write writes[POKE_BATCH_MAX];        /* under text_lock */
static const uint8_t int3_byte = INT3_INSN_OPCODE;

/* The TCG workaround: patch.tcg_rewrite=auto|on|off, decided in patch_init. */
static enum { TCG_REWRITE_AUTO, TCG_REWRITE_ON, TCG_REWRITE_OFF } tcg_rewrite_param;
bool poke_tcg_rewrite, poke_tcg_rewrite_auto;

KPARAM_ENUM("patch.tcg_rewrite", tcg_rewrite_param,
	    "auto|on|off: rewrite each first byte after the last round (TCG's stale translations; auto: under TCG)",
	    "auto", "on", "off");        /* in the order of the enum */

void poke_set_phase_hook(void (*fn)(enum poke_phase p))
{
	__atomic_store_n(&phase_hook, fn, __ATOMIC_SEQ_CST);
}

/* Where a debugger stops the patching CPU at a phase (xp-break-phase):
 * the phase is already published in poke_current_phase. */
__attribute__((noinline))
void poke_phase_stop(enum poke_phase p)
{
	(void)p;
	barrier();
}

void poke_phase_reached(enum poke_phase p)
{
	__atomic_store_n(&poke_current_phase, p, __ATOMIC_RELEASE);
	__atomic_store_n(&poke_patcher_cpu, p == PHASE_RETIRED ? -1 : (int32_t)cpu_id(), __ATOMIC_RELEASE);
	poke_phase_stop(p);
	void (*fn)(enum poke_phase) = __atomic_load_n(&phase_hook, __ATOMIC_ACQUIRE);
	if (fn)
		fn(p);
}

void poke_get_stats(struct poke_stats *out)
{
	*out = stats;
}

/* b->why holds the reason; print it unless the caller reports it. */
static int refuse(struct poke_batch *b, int err)
{
	if (!b->quiet)
		printk("patch: refused (%s): %s", patch_errname(err), b->why);
	return err;
}

int smp_text_poke_batch_add(struct poke_batch *b, void *addr, const void *old, const void *new, size_t len)
{
	uint32_t cap = b->cap < POKE_BATCH_MAX ? b->cap : POKE_BATCH_MAX;

	b->why[0] = 0;
	if (b->nr >= cap) {
		snprintf(b->why, sizeof(b->why), "%p: %s (it holds %u site(s))", addr,
			 patch_strerror(PATCH_EBATCH_FULL), b->nr);
		return refuse(b, -PATCH_EBATCH_FULL);
	}
	struct poke_site *s = &b->sites[b->nr];
	memset(s, 0, sizeof(*s));
	s->addr = (uintptr_t)addr;
	s->len = len > 0xff ? 0xff : (uint8_t)len;
	if (len <= POKE_MAX_LEN) {
		memcpy(s->old, old, len);
		memcpy(s->new, new, len);
	}
	int err = patch_validate_site(&kernel_patch_env, s, b->sites, b->nr, b->why, sizeof(b->why));
	if (err)
		return refuse(b, err);
	b->nr++;
	return 0;
}

void smp_text_poke_batch_reset(struct poke_batch *b)
{
	b->nr = 0;
}

/* One write step: the given bytes of every site, grouped by page. IRQs are
 * off only for the writing itself. */
static uint64_t write_step(const struct poke_batch *b, int step)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < b->nr; i++) {
		const struct poke_site *s = &b->sites[i];
		if (step == 1)
			writes[n++] = (struct poke_write){ s->addr, &int3_byte, INT3_INSN_SIZE };
		else if (step == 2 && s->len > INT3_INSN_SIZE)
			writes[n++] = (struct poke_write){ s->addr + 1, s->new + 1, (uint8_t)(s->len - 1) };
		else if (step == 3)
			writes[n++] = (struct poke_write){ s->addr, s->new, 1 };
	}
	uint64_t t0 = rdtsc();
	uint64_t flags = irq_save();
	stats.page_passes += text_poke_many(writes, n);
	irq_restore(flags);
	return rdtsc() - t0;
}

int smp_text_poke_batch_finish(struct poke_batch *b)
{
	static uint64_t bp_before[MAX_CPUS][BP_CTX_COUNT];

	if (!b->nr)
		return 0;
	if (!irqs_enabled())
		panic("smp_text_poke_batch_finish: IRQs are off; a CPU holding text_lock would wait "
		      "forever for this CPU's acknowledgement");

	spin_lock_timeout(&text_lock, TEXT_LOCK_TIMEOUT_MS);
	/* Compare-and-patch, now that nobody else can write: a batch applied
	 * since batch_add() may have changed a site. Nothing is written yet. */
	for (uint32_t i = 0; i < b->nr; i++)
		if (memcmp((const void *)b->sites[i].addr, b->sites[i].old, b->sites[i].len)) {
			spin_unlock(&text_lock);
			snprintf(b->why, sizeof(b->why), "%#lx: %s (changed since it was added to the batch)",
				 b->sites[i].addr, patch_strerror(PATCH_EOLD_MISMATCH));
			return refuse(b, -PATCH_EOLD_MISMATCH);
		}

	uint64_t t0 = rdtsc();
	bool tails = false;
	for (uint32_t i = 0; i < b->nr; i++)
		tails |= b->sites[i].len > INT3_INSN_SIZE;
	for_each_cpu_in(c, &cpu_online_mask)
		for (int k = 0; k < BP_CTX_COUNT; k++)
			bp_before[c][k] = percpu_of(c)->bp_emulated[k];
	stats.sites = b->nr;
	stats.rounds = 0;
	stats.page_passes = 0;
	memset(stats.cycles_write, 0, sizeof(stats.cycles_write));
	memset(stats.cycles_sync, 0, sizeof(stats.cycles_sync));

	sites_sort(b->sites, b->nr);
	bp_publish(b);
	poke_phase_reached(PHASE_PUBLISHED);

	/* Step 1: int3 on every first byte. */
	stats.cycles_write[0] = write_step(b, 1);
	poke_phase_reached(PHASE_INT3_WRITTEN);
	stats.cycles_sync[0] = sync_all_cpus();
	stats.rounds++;
	poke_phase_reached(PHASE_INT3_SYNCED);

	/* Step 2: the tails, behind the int3s. */
	if (tails) {
		stats.cycles_write[1] = write_step(b, 2);
		poke_phase_reached(PHASE_TAILS_WRITTEN);
		stats.cycles_sync[1] = sync_all_cpus();
		stats.rounds++;
		poke_phase_reached(PHASE_TAILS_SYNCED);
	}

	/* Step 3: the real first bytes. */
	stats.cycles_write[2] = write_step(b, 3);
	poke_phase_reached(PHASE_FIRST_WRITTEN);
	stats.cycles_sync[2] = sync_all_cpus();
	stats.rounds++;
	poke_phase_reached(PHASE_FIRST_SYNCED);
	if (poke_tcg_rewrite)
		stats.cycles_write[3] = write_step(b, 3);       /* TCG's stale translations out */

	/* Retire: withdraw the batch and wait out #BP handlers still using it. */
	uint64_t t1 = rdtsc();
	bp_retire();
	stats.cycles_retire = rdtsc() - t1;
	poke_phase_reached(PHASE_RETIRED);

	stats.cycles_total = rdtsc() - t0;
	stats.batches++;
	stats.sites_total += b->nr;
	for_each_cpu_in(c, &cpu_online_mask)
		for (int k = 0; k < BP_CTX_COUNT; k++)
			stats.last_bp[c][k] = (uint32_t)(percpu_of(c)->bp_emulated[k] - bp_before[c][k]);
	spin_unlock(&text_lock);
	b->nr = 0;
	return 0;
}

int smp_text_poke_single(void *addr, const void *old, const void *new, size_t len)
{
	static struct poke_site site;   /* callers are serialized: see below */
	static spinlock_t single_lock = SPINLOCK_INIT("text_poke_single");
	struct poke_batch b = POKE_BATCH_INIT(&site, 1);

	/* The one-site batch lives in static storage; single_lock keeps two
	 * callers from sharing it. Taken with IRQs on, like text_lock. */
	spin_lock_timeout(&single_lock, TEXT_LOCK_TIMEOUT_MS);
	int err = smp_text_poke_batch_add(&b, addr, old, new, len);
	if (!err)
		err = smp_text_poke_batch_finish(&b);
	spin_unlock(&single_lock);
	return err;
}

void patch_init(void)
{
	const char *how;
	bool tcg = cpu_under_tcg(&how);
	poke_tcg_rewrite_auto = tcg_rewrite_param == TCG_REWRITE_AUTO;
	poke_tcg_rewrite = poke_tcg_rewrite_auto ? tcg : tcg_rewrite_param == TCG_REWRITE_ON;
	printk("patch: TCG workaround (first bytes rewritten after the last round): %s (%s; %s: %s)",
	       poke_tcg_rewrite ? "on" : "off",
	       tcg_rewrite_param == TCG_REWRITE_AUTO ? "patch.tcg_rewrite=auto" :
	       tcg_rewrite_param == TCG_REWRITE_ON ? "patch.tcg_rewrite=on" : "patch.tcg_rewrite=off",
	       tcg ? "TCG detected" : "no TCG", how);
	sync_init();
	const char *why = int3_selftest();
	if (why)
		panic("patch: int3 self-test failed: %s", why);
	printk("patch: int3 self-test passed (call emulated through the #BP gap)");
}

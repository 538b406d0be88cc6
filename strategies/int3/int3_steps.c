/*
 * strategies/int3/int3_steps.c — the int3 protocol's writes and rounds,
 * one implementation for every strategy built on them (timeline:
 * int3.c): int3 and int3-2round run them in thread context, nmi in the
 * patching CPU's own NMI handler (strategies/nmi/nmi_trap.c). In the
 * no-patch region for that reason: it calls only the writer
 * (patch/text_poke.c), the rendezvous, the phase record (patch/phase.c)
 * and panic, all in the region too. No lock, no print of its own.
 */
#include "kernel/panic.h"
#include "patch/rendezvous.h"
#include "patch/strategy.h"
#include "patch/text_poke.h"
#include "strategies/int3/int3.h"

static const uint8_t int3_byte = INT3_INSN_OPCODE;

/* The bytes of one step for every site, grouped by page by the writer. */
uint64_t int3_write_step(const struct poke_batch *b, enum int3_step step, struct poke_stats *st, const uint8_t *done)
{
	struct poke_write *w = poke_write_buffer();
	unsigned n = 0;
	for (uint32_t i = 0; i < b->nr; i++) {
		const struct poke_site *s = &b->sites[i];
		const uint8_t *d = done ? &done[i] : NULL;
		if ((step == INT3_STEP_TAILS || step == INT3_STEP_FIRST) && d && __atomic_load_n(d, __ATOMIC_SEQ_CST))
			continue;       /* completed by a trap handler of this CPU (roll-forward) */
		if (step == INT3_STEP_INT3)
			w[n++] = (struct poke_write){ s->addr, &int3_byte, INT3_INSN_SIZE, d };
		else if (step == INT3_STEP_TAILS && s->len > INT3_INSN_SIZE)
			w[n++] = (struct poke_write){ s->addr + 1, s->new + 1, (uint8_t)(s->len - 1), d };
		else if (step == INT3_STEP_FIRST || step == INT3_STEP_TCG)
			w[n++] = (struct poke_write){ s->addr, s->new, 1, d };
	}
	return poke_write_step(w, n, st);
}

/* One round of strategy s, counted and timed. */
void int3_round(const struct patch_strategy *s, struct poke_stats *st)
{
	if (st->rounds >= s->max_rounds)
		panic("%s: round %u of a batch declared to take at most %u", s->name, st->rounds + 1, s->max_rounds);
	st->cycles_sync[st->rounds++] = sync_all_cpus();
}

/* The three steps of int3.c's timeline for b, as strategy s (its phases
 * are int3's: enum int3_phase). text_lock held, b published; thread
 * context or the handler s opened for the writer. */
int int3_apply_steps(const struct patch_strategy *s, const struct poke_batch *b, struct poke_stats *st)
{
	bool tails = false;
	for (uint32_t i = 0; i < b->nr; i++)
		tails |= b->sites[i].len > INT3_INSN_SIZE;

	/* Step 1: int3 on every first byte. */
	st->cycles_write[INT3_STEP_INT3] = int3_write_step(b, INT3_STEP_INT3, st, NULL);
	poke_phase_reached(PHASE_INT3_WRITTEN);
	int3_round(s, st);
	poke_phase_reached(PHASE_INT3_SYNCED);

	/* Step 2: the tails, behind the int3s. */
	if (tails) {
		st->cycles_write[INT3_STEP_TAILS] = int3_write_step(b, INT3_STEP_TAILS, st, NULL);
		poke_phase_reached(PHASE_TAILS_WRITTEN);
		int3_round(s, st);
		poke_phase_reached(PHASE_TAILS_SYNCED);
	}

	/* Step 3: the real first bytes. */
	st->cycles_write[INT3_STEP_FIRST] = int3_write_step(b, INT3_STEP_FIRST, st, NULL);
	poke_phase_reached(PHASE_FIRST_WRITTEN);
	int3_round(s, st);
	poke_phase_reached(PHASE_FIRST_SYNCED);
	if (poke_tcg_rewrite)   /* TCG's stale translations out */
		st->cycles_write[INT3_STEP_TCG] = int3_write_step(b, INT3_STEP_TCG, st, NULL);
	return 0;
}

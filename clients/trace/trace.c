/*
 * clients/trace/trace.c — trace on/off: see trace.h.
 *
 * A request walks the sorted sites twice. The first pass only reads: which
 * sites match the glob, and whether each holds the state wanted, the other
 * one, or neither (someone else's bytes: the request is refused before any
 * byte moves). The second adds every site to change to one batch of the
 * patch core, in address order (so the core's sort has nothing to do), and
 * applies it. Past TRACE_BATCH_SITES sites the batch is applied in chunks,
 * each its own rounds; should a later chunk be refused, the earlier ones
 * are put back, so a refused request changes no byte.
 */
#include "arch/x86/tsc.h"
#include "kernel/format.h"
#include "kernel/ksyms.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "patch/patch.h"
#include "clients/trace/ftrace_sites.h"
#include "clients/trace/trace.h"

#define TRACE_BATCH_SITES 65536         /* the core's POKE_BATCH_MAX: one batch for the corpus */

extern char trace_entry[];              /* trace_entry.asm */
extern uint64_t trace_stray_hits;       /* trace_hit.c */

/* What -mnop-mcount puts at every function's start. */
static const uint8_t fentry_nop[CALL_INSN_SIZE] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };

static spinlock_t trace_lock = SPINLOCK_INIT("trace");
static struct poke_site trace_storage[TRACE_BATCH_SITES];
static struct poke_batch trace_batch = POKE_BATCH_INIT(trace_storage, TRACE_BATCH_SITES);
static struct poke_stats trace_fig;     /* under trace_lock */
static uint8_t trace_todo[FTRACE_SITES_MAX];    /* the first pass's verdict: change site i (under trace_lock) */

uint32_t trace_nr_sites(void)
{
	ftrace_sites_init();
	return ftrace_nr;
}

uintptr_t trace_site(uint32_t i)
{
	return ftrace_sites[i];
}

uint64_t trace_hits(uint32_t i)
{
	return __atomic_load_n(&ftrace_hits[i], __ATOMIC_RELAXED);
}

uint64_t trace_hits_of(const void *fn)
{
	ftrace_sites_init();
	uint32_t i = ftrace_site_index((uintptr_t)fn);
	return i == FTRACE_NONE ? 0 : trace_hits(i);
}

uint64_t trace_strays(void)
{
	return __atomic_load_n(&trace_stray_hits, __ATOMIC_RELAXED);
}

/* The bytes of site i when traced (on) or not. */
static void site_bytes(uint32_t i, bool on, uint8_t out[CALL_INSN_SIZE])
{
	if (on)
		insn_call(ftrace_sites[i], (uintptr_t)trace_entry, out);
	else
		memcpy(out, fentry_nop, CALL_INSN_SIZE);
}

static bool site_holds(uint32_t i, bool on)
{
	uint8_t want[CALL_INSN_SIZE];
	site_bytes(i, on, want);
	return !memcmp((const void *)ftrace_sites[i], want, CALL_INSN_SIZE);
}

bool trace_site_on(uint32_t i)
{
	return site_holds(i, true);
}

static const char *site_name(uint32_t i)
{
	const struct ksym *s = ksym_function(ftrace_sites[i]);
	return s ? ksym_name(s) : "?";
}

static bool site_matches(uint32_t i, const char *glob)
{
	return !glob || glob_match(glob, site_name(i));
}

/* Apply one chunk (the batch as it is); count it in r. */
static int apply_chunk(struct trace_result *r)
{
	int err = smp_text_poke_batch_finish(&trace_batch);
	if (err)
		return err;
	poke_get_stats(&trace_fig);
	r->batches++;
	r->rounds += trace_fig.rounds;
	return 0;
}

/*
 * Turn every site of [from, to) the first pass chose (trace_todo) into
 * state `on`, in batches of up to TRACE_BATCH_SITES. On a refusal, *applied
 * is the first site not applied (every changed site before it was); the
 * batch is empty again.
 */
static int apply_range(bool on, uint32_t from, uint32_t to, struct trace_result *r, uint32_t *applied, char *why,
		       size_t why_len)
{
	uint32_t chunk_from = from;
	int err = 0;
	*applied = from;
	for (uint32_t i = from; i < to && !err; i++) {
		if (!trace_todo[i])
			continue;
		uint8_t old[CALL_INSN_SIZE], new[CALL_INSN_SIZE];
		site_bytes(i, !on, old);
		site_bytes(i, on, new);
		err = smp_text_poke_batch_add(&trace_batch, (void *)ftrace_sites[i], old, new, CALL_INSN_SIZE);
		if (err == -PATCH_EBATCH_FULL) {        /* a chunk: apply it, then this site again */
			err = apply_chunk(r);
			if (!err) {
				chunk_from = i;
				i--;
			}
			continue;
		}
		if (!err)
			r->sites++;
	}
	if (!err && trace_batch.nr)
		err = apply_chunk(r);
	if (err) {
		snprintf(why, why_len, "%s", trace_batch.why);
		smp_text_poke_batch_reset(&trace_batch);
		*applied = chunk_from;
		return err;
	}
	*applied = to;
	return 0;
}

int trace_set(bool on, const char *glob, const struct patch_strategy *st, struct trace_result *r, char *why,
	      size_t why_len)
{
	uint32_t n = trace_nr_sites(), todo = 0;
	int err = 0;

	memset(r, 0, sizeof(*r));
	why[0] = 0;
	r->strategy = st ? st : patch_default_strategy();
	spin_lock_timeout(&trace_lock, 60000);
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n && !err; i++) {
		trace_todo[i] = 0;
		if (!site_matches(i, glob))
			continue;
		r->matched++;
		if (site_holds(i, on))
			continue;
		if (site_holds(i, !on)) {
			trace_todo[i] = 1;
			todo++;
			continue;
		}
		const uint8_t *b = (const uint8_t *)ftrace_sites[i];
		snprintf(why, why_len, "%#lx (%s): holds %02x %02x %02x %02x %02x, neither its fentry NOP nor a call "
			 "of trace_entry", ftrace_sites[i], site_name(i), b[0], b[1], b[2], b[3], b[4]);
		err = -TRACE_EFOREIGN;
	}
	if (!err && !r->matched) {
		snprintf(why, why_len, "no traced function matches '%s' (%u fentry sites)", glob ? glob : "*", n);
		err = -TRACE_ENOMATCH;
	}
	if (!err && !todo) {
		snprintf(why, why_len, "tracing is already %s for all %u function(s) matching '%s'", on ? "on" : "off",
			 r->matched, glob ? glob : "*");
		err = -TRACE_EALREADY;
	}
	if (!err) {
		uint32_t applied;
		trace_batch.strategy = r->strategy;
		trace_batch.quiet = true;
		r->cycles_scan = rdtsc() - t0;
		err = apply_range(on, 0, n, r, &applied, why, why_len);
		if (err && applied) {
			/* Put back the chunks already applied. */
			struct trace_result back;
			char why_back[POKE_WHY_LEN];
			uint32_t undone;
			memset(&back, 0, sizeof(back));
			for (uint32_t i = 0; i < applied; i++)  /* trace_todo: the sites applied, now in state on */
				trace_todo[i] = trace_todo[i] && site_holds(i, on);
			int err2 = apply_range(!on, 0, applied, &back, &undone, why_back, sizeof(why_back));
			if (err2)
				snprintf(why + strlen(why), why_len - strlen(why),
					 "; putting back the %u site(s) applied failed too: %s", r->sites, why_back);
		}
	}
	r->cycles = rdtsc() - t0;
	spin_unlock(&trace_lock);
	return err;
}

/*
 * lab/storm.c — see storm.h.
 *
 *   patcher (this CPU)                      senders (every other CPU: the crew)
 *   ------------------                      -----------------------------------
 *   snapshot counters
 *   start senders  ----------------------->  loop until told to stop:
 *   [idle phase: wait idle_ms]                 NMI: to the next CPU, every 8th to
 *   patch phase, until ms or *stop:              all but itself, every 16th to itself
 *     flip each chosen site a <-> b,           IPI VEC_STORM: to the next CPU / all
 *       timed; in flight for lab/stall.h       stall_tick(): the gap since the last shot
 *     every 10 ms: watchdog over the           call the thread site (check a or b)
 *       senders' heartbeats                    every 64th round: INT 18 (soft_mce)
 *   stop senders, wait for them                heartbeat++; nap if told to
 *   flip every site back to a
 *   sum up: site hits must equal the entries of each path
 *
 * The senders are the lab's crew (lab/crew.h): as in the flip tests, when
 * the first flips are slow (more vCPUs than host cores) they start to nap
 * between bursts (printed in the figures).
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/irq.h"
#include "arch/x86/nmi.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/format.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/smp_call.h"
#include "kernel/string.h"
#include "lab/context_sites.h"
#include "lab/crew.h"
#include "lab/fixture_sites.h"
#include "lab/stall.h"
#include "patch/patch.h"
#include "patch/strategy.h"
#include "clients/sites/sites.h"
#include "lab/storm.h"
#include "lab/storm_handlers.h"


static struct {
	const struct storm_cfg *cfg;
} st;

/* Per sender, written by that CPU only: a line each. */
static struct {
	uint64_t sent_nmi, sent_ipi, calls, bad;
	unsigned target;                /* the CPU it fires at next */
} __attribute__((aligned(64))) snd[MAX_CPUS];

static unsigned next_cpu(unsigned c)
{
	unsigned n = cpumask_next(&cpu_online_mask, c + 1);
	return n < MAX_CPUS ? n : cpumask_next(&cpu_online_mask, 0);
}

/* One shot of the storm from this CPU. */
static void fire(const struct storm_cfg *cfg, unsigned me, uint64_t round)
{
	unsigned *target = &snd[me].target;
	*target = next_cpu(*target);
	if (*target == me && nr_cpus_online > 1)
		*target = next_cpu(*target);
	if (cfg->kind & STORM_NMI) {
		if (round % 16 == 15) {
			__atomic_fetch_or(&percpu_of(me)->nmi_reasons, NMI_STORM, __ATOMIC_SEQ_CST);
			apic_send_nmi_self();
		} else if (round % 8 == 7 && nr_cpus_online > 1) {
			for_each_cpu_in(c, &cpu_online_mask)
				if (c != me)
					__atomic_fetch_or(&percpu_of(c)->nmi_reasons, NMI_STORM, __ATOMIC_SEQ_CST);
			apic_send_nmi_allbutself();
		} else {
			nmi_send(*target, NMI_STORM);
		}
		snd[me].sent_nmi++;
	}
	if (cfg->kind & STORM_IPI) {
		if (round % 8 == 7 && nr_cpus_online > 1)
			apic_send_ipi_allbutself(VEC_STORM);
		else
			apic_send_ipi(percpu_of(*target)->apic_id, VEC_STORM);
		snd[me].sent_ipi++;
	}
	uint32_t v = flip_call_fn();
	snd[me].calls++;
	if (v != FLIP_A && v != FLIP_B)
		snd[me].bad++;
	if (cfg->soft_mce && round % 64 == 63)
		__asm__ volatile("int $18" ::: "memory");
}

/* The crew's job: one shot. */
static void sender(unsigned me, uint64_t round, void *unused)
{
	(void)unused;
	const struct storm_cfg *cfg = st.cfg;
	if ((int)me == cfg->stuck_sender && round > 1000) {
		for (;;)                        /* stuck, IRQs on: answers IPIs, no progress */
			cpu_relax();
	}
	stall_tick(me);
	fire(cfg, me, round);
}

static void nothing(void *unused)
{
	(void)unused;
}

static void snapshot(struct storm_cpu *out)
{
	for_each_cpu_in(c, &cpu_online_mask) {
		struct percpu *pc = percpu_of(c);
		struct storm_cpu *s = &out[c];
		s->nmis = pc->nmi_count;
		s->irqs = pc->irq_count;
		for (int k = 0; k < BP_CTX_COUNT; k++)
			s->bp[k] = pc->patch.bp_handled[k];
		s->noiret = pc->nmi_noiret;
		s->nested = pc->nmi_nested;
		s->mce_soft = pc->mce_software;
		memcpy(s->hazard, pc->patch.hazard, sizeof(s->hazard));
		memcpy(s->value, lab_cpu[c].value_hits, sizeof(s->value));
		memcpy(s->site_hits, lab_cpu[c].site_hits, sizeof(s->site_hits));
	}
}

/* Is any sender's heartbeat unchanged for STORM_STUCK_MS? Reports it. */
static int watchdog(uint64_t *last_beat, uint64_t *last_change, unsigned me)
{
	uint64_t now = rdtsc();
	for_each_cpu_in(c, &cpu_online_mask) {
		if (c == me)
			continue;
		uint64_t b = crew_heartbeat(c);
		if (b != last_beat[c]) {
			last_beat[c] = b;
			last_change[c] = now;
		} else if (tsc_to_ms(now - last_change[c]) > STORM_STUCK_MS) {
			struct cpumask m;
			cpumask_clear_all(&m);
			cpumask_set(&m, c);
			printk("storm: watchdog: CPU %u made no progress for %u ms", c, STORM_STUCK_MS);
			cpus_report_where(&m, "storm watchdog");
			return (int)c;
		}
	}
	return -1;
}

static const struct patch_site_def *chosen[1 + CTX_SITES + 2];   /* thread site, path sites, value sites */
static const struct storm_cfg *hook_cfg;
static unsigned first_trap_phase;               /* of the strategy; 0: it writes no int3 */

/* The patcher NMIs (and IPIs) itself the moment the int3s are in place, so
 * its own handlers run its own in-flight sites. */
static void self_fire(unsigned p)
{
	if (!first_trap_phase || p != first_trap_phase)
		return;
	unsigned me = cpu_id();
	if (hook_cfg->kind & STORM_NMI) {
		__atomic_fetch_or(&percpu_of(me)->nmi_reasons, NMI_STORM, __ATOMIC_SEQ_CST);
		apic_send_nmi_self();
	}
	if (hook_cfg->kind & STORM_IPI)
		apic_send_ipi_self(VEC_STORM);
}

static void flip_round(unsigned n, struct storm_result *res)
{
	for (unsigned i = 0; i < n; i++) {
		const struct patch_site_def *s = chosen[i];
		const struct site_variant *cur = site_current_variant(s);
		const struct site_variant *next = cur == &s->var[0] ? &s->var[1] : &s->var[0];
		stall_flight(true);
		uint64_t t0 = rdtsc();
		int err = site_patch_by(res->strategy, s, next);
		uint64_t took = rdtsc() - t0;
		stall_flight(false);
		if (err) {
			res->flip_errors++;
			if (!res->first_err)
				res->first_err = err;
		} else {
			res->flips++;
			hist_add(&res->latency, took);
		}
		crew_flip_took(tsc_to_us(took), NULL);
	}
}

int storm_run(const struct storm_cfg *cfg, struct storm_result *res)
{
	static struct storm_cpu before[MAX_CPUS], mid[MAX_CPUS], after[MAX_CPUS];
	static uint64_t last_beat[MAX_CPUS], last_change[MAX_CPUS];
	unsigned me = cpu_id(), n = 0;

	memset(res, 0, sizeof(*res));
	memset(&st, 0, sizeof(st));
	memset(snd, 0, sizeof(snd));
	for_each_cpu_in(c, &cpu_online_mask)
		snd[c].target = c;
	res->stuck_cpu = -1;
	st.cfg = cfg;
	storm_print_every = cfg->nmi_print_every;
	if (cfg->flip_thread)
		chosen[n++] = site_by_name("call");
	if (cfg->flip_irq)
		chosen[n++] = site_by_name("irq");
	if (cfg->flip_nmi)
		chosen[n++] = site_by_name("nmi");
	if (cfg->flip_mce)
		chosen[n++] = site_by_name("mce");
	if (cfg->flip_nmi_value)
		chosen[n++] = site_by_name("nmi_value");
	if (cfg->flip_mce_value)
		chosen[n++] = site_by_name("mce_value");
	res->strategy = cfg->strategy ? cfg->strategy : patch_default_strategy();
	first_trap_phase = res->strategy->trap_phases ? (unsigned)__builtin_ctz(res->strategy->trap_phases) : 0;
	irq_register(VEC_STORM, storm_ipi);
	nmi_set_storm_hook(storm_nmi);
	snapshot(before);
	stall_start();
	unsigned helpers = crew_start(sender, NULL);

	/* Idle phase: the storm without patching, for comparison. */
	uint64_t t0 = rdtsc();
	if (cfg->idle_ms)
		mdelay(cfg->idle_ms);
	res->idle_ms = tsc_to_ms(rdtsc() - t0);
	snapshot(mid);

	/* Patch phase. */
	uint64_t t1 = rdtsc(), deadline = tsc_deadline_us(cfg->ms * 1000ull), next_check = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		last_beat[c] = crew_heartbeat(c);
		last_change[c] = t1;
	}
	hook_cfg = cfg;
	poke_set_phase_hook(self_fire);
	for (uint64_t round = 0; !tsc_expired(deadline); round++) {
		if (cfg->poll && cfg->poll())
			break;
		flip_round(n, res);
		if (helpers == 0)
			fire(cfg, me, round);   /* alone: storm ourselves */
		if (tsc_expired(next_check)) {
			res->stuck_cpu = watchdog(last_beat, last_change, me);
			if (res->stuck_cpu >= 0)
				break;
			next_check = tsc_deadline_us(10000);
		}
	}
	res->ms = tsc_to_ms(rdtsc() - t1);
	poke_set_phase_hook(NULL);

	crew_stop(res->stuck_cpu);
	stall_close();
	/* Every NMI sent before this point has been handled once each CPU
	 * answers one more; every IPI, once each CPU has run a function in
	 * thread context with interrupts on. */
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != me)
			cpu_where(c, NULL);
	on_cpus(&cpu_online_mask, nothing, NULL);
	for (unsigned i = 0; i < n; i++)
		if (site_current_variant(chosen[i]) != &chosen[i]->var[0])
			site_patch_by(res->strategy, chosen[i], &chosen[i]->var[0]);
	nmi_set_storm_hook(NULL);
	snapshot(after);

	for_each_cpu_in(c, &cpu_online_mask) {
		struct storm_cpu *o = &res->cpu[c];
		o->nmis_idle = mid[c].nmis - before[c].nmis;
		o->nmis = after[c].nmis - mid[c].nmis;
		o->irqs = after[c].irqs - before[c].irqs;
		for (int k = 0; k < BP_CTX_COUNT; k++)
			o->bp[k] = after[c].bp[k] - before[c].bp[k];
		o->noiret = after[c].noiret - before[c].noiret;
		o->nested = after[c].nested - before[c].nested;
		o->mce_soft = after[c].mce_soft - before[c].mce_soft;
		for (int k = 0; k < PATCH_HAZARDS_MAX; k++)
			o->hazard[k] = after[c].hazard[k] - before[c].hazard[k];
		for (int k = 0; k < VALUE_RESULTS; k++)
			o->value[k] = after[c].value[k] - before[c].value[k];
		for (int p = 0; p < CTX_SITES; p++)
			for (int v = 0; v < CTX_VARIANTS; v++)
				o->site_hits[p][v] = after[c].site_hits[p][v] - before[c].site_hits[p][v];
		o->sent_nmi = snd[c].sent_nmi;
		o->sent_ipi = snd[c].sent_ipi;
		o->thread_calls = snd[c].calls;
		o->bad = snd[c].bad;
		/* Every NMI and IRQ ran its path's site exactly once, as a or b. */
		uint64_t nmi_hits = o->site_hits[SITE_NMI][CTX_VARIANT_A] + o->site_hits[SITE_NMI][CTX_VARIANT_B];
		uint64_t irq_hits = o->site_hits[SITE_IRQ][CTX_VARIANT_A] + o->site_hits[SITE_IRQ][CTX_VARIANT_B];
		uint64_t entries = o->nmis + o->nmis_idle;
		res->sites_lost += (nmi_hits > entries ? nmi_hits - entries : entries - nmi_hits) +
				   (irq_hits > o->irqs ? irq_hits - o->irqs : o->irqs - irq_hits);
		res->bad += o->bad;

		struct storm_cpu *t = &res->total;
		t->nmis += o->nmis;
		t->nmis_idle += o->nmis_idle;
		t->irqs += o->irqs;
		for (int k = 0; k < BP_CTX_COUNT; k++)
			t->bp[k] += o->bp[k];
		t->noiret += o->noiret;
		t->nested += o->nested;
		t->sent_nmi += o->sent_nmi;
		t->sent_ipi += o->sent_ipi;
		t->thread_calls += o->thread_calls;
		t->mce_soft += o->mce_soft;
		for (int k = 0; k < PATCH_HAZARDS_MAX; k++)
			t->hazard[k] += o->hazard[k];
		for (int k = 0; k < VALUE_RESULTS; k++)
			t->value[k] += o->value[k];
		for (int p = 0; p < CTX_SITES; p++)
			for (int v = 0; v < CTX_VARIANTS; v++)
				t->site_hits[p][v] += o->site_hits[p][v];
	}
	res->torn = res->total.value[VALUE_TORN];
	return res->flip_errors || res->bad || res->torn || res->sites_lost || res->stuck_cpu >= 0 || res->total.nested
		       ? -1 : 0;
}

uint32_t storm_events(const struct storm_cfg *cfg, const struct patch_strategy *s)
{
	bool others = nr_cpus_online > 1, traps = s->trap_phases != 0;   /* traps: self_fire() */
	uint32_t ev = cfg->host_events;
	if ((cfg->kind & STORM_IPI) && (others || traps))
		ev |= PATCH_EV_IRQ;
	if ((cfg->kind & STORM_NMI) && others)
		ev |= PATCH_EV_NMI;
	if ((cfg->kind & STORM_NMI) && traps)
		ev |= PATCH_EV_OWN_NMI;
	if (cfg->soft_mce && others)
		ev |= PATCH_EV_MCE;
	return ev;
}

void storm_event_names(uint32_t ev, char *buf, size_t size)
{
	static const char *const names[] = { "IRQ", "NMI", "#MC", "own-NMI" };
	size_t n = 0;
	buf[0] = 0;
	for (unsigned i = 0; i < 4; i++)
		if (ev & 1u << i)
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "," : "", names[i]);
	if (!n)
		snprintf(buf, size, "-");
}

uint32_t storm_fit(struct storm_cfg *cfg, bool *can_detect)
{
	const struct patch_strategy *s = cfg->strategy ? cfg->strategy : patch_default_strategy();
	const struct patch_site_def *nv = site_by_name("nmi_value"), *mv = site_by_name("mce_value");
	uint32_t unsafe = storm_events(cfg, s) & ~s->safe_events;
	*can_detect = site_check_by(s, nv, &nv->var[1]) == 0 && site_check_by(s, mv, &mv->var[1]) == 0;
	cfg->flip_nmi_value = *can_detect && cfg->flip_nmi;
	cfg->flip_mce_value = *can_detect && cfg->flip_mce;
	if (unsafe & (PATCH_EV_NMI | PATCH_EV_OWN_NMI))
		cfg->flip_nmi = false;
	if (unsafe & PATCH_EV_MCE)
		cfg->flip_mce = false;
	if (unsafe & PATCH_EV_IRQ)
		cfg->flip_irq = false;
	return unsafe;
}

static uint64_t per_s(uint64_t n, uint64_t ms) { return ms ? n * 1000 / ms : 0; }

void storm_print(const struct storm_cfg *cfg, const struct storm_result *r)
{
	static const char *const kinds[] = { "", "nmi", "ipi", "mixed" };
	printk("storm %s: strategy %s: %lu ms patching (+%lu ms idle), %lu flips (%lu/s), %lu refused; %s",
	       kinds[cfg->kind & 3], r->strategy->name, r->ms, r->idle_ms, r->flips, per_s(r->flips, r->ms), r->flip_errors,
	       crew_nap_us() ? "senders napped (slow rounds)" : "senders back to back");
	printk("storm: %-4s %10s %10s %8s %8s %8s %8s %8s %8s %8s", "CPU", "NMI/s pat", "NMI/s idle", "IRQs",
	       "bp thr", "bp irq", "bp nmi", "bp mce", "no-IRET", "sent");
	for_each_cpu_in(c, &cpu_online_mask) {
		const struct storm_cpu *o = &r->cpu[c];
		printk("storm: %-4u %10lu %10lu %8lu %8lu %8lu %8lu %8lu %8lu %8lu", c, per_s(o->nmis, r->ms),
		       per_s(o->nmis_idle, r->idle_ms), o->irqs, o->bp[BP_THREAD], o->bp[BP_IRQ], o->bp[BP_NMI],
		       o->bp[BP_MCE], o->noiret,
		       o->sent_nmi + o->sent_ipi);
	}
	const struct storm_cpu *t = &r->total;
	printk("storm: all: %lu NMIs (%lu/s/CPU patching, %lu/s/CPU idle), %lu IRQs, #BP emulations thread %lu "
	       "irq %lu nmi %lu mce %lu, returns without IRET %lu, nested NMIs %lu, INT 18 %lu",
	       t->nmis, per_s(t->nmis, r->ms) / nr_cpus_online, per_s(t->nmis_idle, r->idle_ms) / nr_cpus_online,
	       t->irqs, t->bp[BP_THREAD], t->bp[BP_IRQ], t->bp[BP_NMI], t->bp[BP_MCE], t->noiret, t->nested,
	       t->mce_soft);
	static struct hist stall;
	hist_clear(&stall);
	for_each_cpu_in(c, &cpu_online_mask)
		hist_merge(&stall, stall_of(c));
	printk("storm: latency per flip p50 %lu us, p99 %lu us, max %lu us; senders' stall per flip p50 %lu us, "
	       "p99 %lu us, max %lu us (%lu samples)", tsc_to_us(hist_percentile(&r->latency, 500)),
	       tsc_to_us(hist_percentile(&r->latency, 990)), tsc_to_us(r->latency.max),
	       tsc_to_us(hist_percentile(&stall, 500)), tsc_to_us(hist_percentile(&stall, 990)), tsc_to_us(stall.max),
	       stall.n);
	for (unsigned k = 0; k < r->strategy->nr_hazards; k++)
		printk("storm: hazard %s: %lu", r->strategy->hazards[k].name, t->hazard[k]);
	if (cfg->flip_nmi_value || cfg->flip_mce_value)
		printk("storm: value sites: %lu a, %lu b, %lu torn", t->value[VALUE_GOT_A], t->value[VALUE_GOT_B],
		       t->value[VALUE_TORN]);
	printk("storm: errors: %lu refused flips%s%s, %lu bad thread-site results, %lu torn values, %lu lost site "
	       "entries, stuck CPU %d", r->flip_errors, r->first_err ? ", the first " : "",
	       r->first_err ? patch_errname(r->first_err) : "", r->bad, r->torn, r->sites_lost, r->stuck_cpu);
}

/* Console: storm nmi|ipi|mixed SECONDS */
static int cmd_storm(int argc, char **argv)
{
	static struct storm_cfg cfg;
	static struct storm_result res;
	uint64_t secs;
	if (argc != 3 || !parse_u64(argv[2], &secs) || secs == 0 || secs > 3600) {
		printk("usage: storm nmi|ipi|mixed SECONDS   (1..3600)");
		return -EINVAL;
	}
	cfg = (struct storm_cfg){ .ms = (uint32_t)secs * 1000, .idle_ms = 1000, .stuck_sender = -1,
		.flip_thread = true, .flip_irq = true, .flip_nmi = true, .flip_mce = true };
	if (!strcmp(argv[1], "nmi"))
		cfg.kind = STORM_NMI;
	else if (!strcmp(argv[1], "ipi"))
		cfg.kind = STORM_IPI;
	else if (!strcmp(argv[1], "mixed")) {
		cfg.kind = STORM_MIXED;
		cfg.soft_mce = true;
	} else {
		printk("storm: '%s' is not nmi, ipi or mixed", argv[1]);
		return -EINVAL;
	}
	bool can_detect;
	uint32_t unsafe = storm_fit(&cfg, &can_detect);
	if (unsafe)
		printk("storm: %s does not claim to be safe against all of this storm (events %#x): %s",
		       patch_default_strategy()->name, unsafe,
		       can_detect ? "its call sites on those paths stay put; the value sites flip, torn runs are counted"
				  : "and cannot patch the value sites: nothing will show the hazard");
	int err = storm_run(&cfg, &res);
	storm_print(&cfg, &res);
	return err ? -EIO : 0;
}
SHELL_CMD("storm", "nmi|ipi|mixed SECONDS", "NMIs/IPIs from every CPU while the patcher flips sites in every context",
	  cmd_storm);

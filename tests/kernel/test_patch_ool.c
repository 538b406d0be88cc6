/*
 * tests/kernel/test_patch_ool.c — the out-of-line strategy
 * (strategies/ool/): every kind of site it can patch, run out of line at a
 * site in flight with the result checked; which copy runs at each phase;
 * every kind it cannot run out of line refused with its own code; the NMI
 * path's value site flipped while NMIs fire; and retirement waiting for a
 * CPU still inside a copy.
 *
 * A CPU is held at a site in flight deterministically: the patching CPU's
 * phase hook asks an observer CPU (another CPU, or itself with one CPU) to
 * run the site's function and waits for it, while the patcher is held at
 * that phase; the observer's hazard counters say whether it ran out of line
 * and which copy. Hidden (not in ktest=all): the ktest-ool stanza of make
 * test runs them by name, with ool as the default strategy.
 */
#include "arch/x86/apic.h"
#include "arch/x86/nmi.h"
#include "arch/x86/paging.h"
#include "arch/x86/tsc.h"
#include "kernel/format.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/smp_call.h"
#include "kernel/string.h"
#include "clients/sites/sites.h"
#include "lab/context_sites.h"
#include "lab/crew.h"
#include "lab/fixture_sites.h"
#include "lab/ool_sites.h"
#include "patch/patch.h"
#include "strategies/ool/ool.h"

#define BIT(p) (1u << (p))

static uint64_t hazard_of(unsigned cpu, unsigned h)
{
	return __atomic_load_n(&percpu_of(cpu)->patch.hazard[h], __ATOMIC_RELAXED);
}

/* The observer: another online CPU, or this one when it is alone. */
static unsigned observer_cpu(void)
{
	for_each_cpu_in(c, &cpu_online_mask)
		if (c != cpu_id())
			return c;
	return cpu_id();
}

/* --- the observer, run from the patching CPU's phase hook ------------------ */

static struct {
	const struct ool_fixture *f;
	unsigned observer;
	uint32_t phases;                        /* BIT(p): run the site at phase p */
	bool seen[POKE_PHASES_MAX];
	int err[POKE_PHASES_MAX];
	uint64_t value[POKE_PHASES_MAX];        /* what the site's function returned */
	uint64_t ret[POKE_PHASES_MAX];          /* the return address its callee saw */
	uint64_t ran[POKE_PHASES_MAX][OOL_HAZARD_COUNT];        /* the observer's hazards meanwhile */
} probe;

/* Thread context, on the observer. */
static void observe(void *arg)
{
	unsigned p = (unsigned)(uintptr_t)arg, me = cpu_id();
	uint64_t before[OOL_HAZARD_COUNT];
	for (unsigned h = 0; h < OOL_HAZARD_COUNT; h++)
		before[h] = hazard_of(me, h);
	ool_seen_ret[me] = 0;
	probe.value[p] = probe.f->run(probe.f->arg);
	probe.ret[p] = ool_seen_ret[me];
	for (unsigned h = 0; h < OOL_HAZARD_COUNT; h++)
		probe.ran[p][h] = hazard_of(me, h) - before[h];
	probe.seen[p] = true;
}

/* The patching CPU at phase p (text_lock held, IRQs on): the observer runs
 * the site now, and this CPU waits for it (on_cpu's deadline). */
static void probe_hook(unsigned p)
{
	if (!(probe.phases & BIT(p)))
		return;
	if (probe.observer == cpu_id())
		observe((void *)(uintptr_t)p);
	else
		probe.err[p] = on_cpu(probe.observer, observe, (void *)(uintptr_t)p);
}

/* Patch f from variant `from` to `to` with the ool strategy, the observer
 * running the site at the phases in `phases`. */
static int ool_flip(const struct ool_fixture *f, int from, int to, uint32_t phases)
{
	uint8_t a[POKE_MAX_LEN], b[POKE_MAX_LEN];
	f->encode(f, from, a);
	f->encode(f, to, b);
	memset(&probe, 0, sizeof(probe));
	probe.f = f;
	probe.phases = phases;
	probe.observer = observer_cpu();
	poke_set_phase_hook(probe_hook);
	int err = smp_text_poke_one(&ool_strategy, (void *)f->site, a, b, f->len);
	poke_set_phase_hook(NULL);
	return err;
}

/* --- 1. each kind, out of line, both copies --------------------------------- */

/* Does each kind of site run out of line while in flight, and compute what
 * its old instruction computes before the switch and what its new one
 * computes after it (a call's callee seeing the site's end as its return
 * address)? */
static void test_each_kind(void)
{
	const unsigned OLD = OOL_PHASE_INT3_SYNCED, NEW = OOL_PHASE_NEW_COPIES;
	for (unsigned i = 0; i < ool_nr_fixtures; i++) {
		const struct ool_fixture *f = &ool_fixtures[i];
		uint8_t a[POKE_MAX_LEN];
		uintptr_t end = (uintptr_t)f->site + f->len;
		f->encode(f, 0, a);
		if (!report(!memcmp(f->site, a, f->len) && f->run(f->arg) == f->expect(f, 0),
			    "%s: the site holds variant a and computes %#lx", f->kind, f->expect(f, 0)))
			continue;
		int err = ool_flip(f, 0, 1, BIT(OLD) | BIT(NEW));
		unsigned o = probe.observer;
		report(err == 0 && probe.seen[OLD] && !probe.err[OLD] && probe.value[OLD] == f->expect(f, 0) &&
		       probe.ran[OLD][OOL_HAZARD_RAN] == 1 && probe.ran[OLD][OOL_HAZARD_OLD] == 1,
		       "%s: CPU %u hit it at %s and ran the old copy out of line: %#lx (expected %#lx; out-of-line "
		       "runs %lu, old %lu)", f->kind, o, ool_strategy.phase_names[OLD], probe.value[OLD],
		       f->expect(f, 0), probe.ran[OLD][OOL_HAZARD_RAN], probe.ran[OLD][OOL_HAZARD_OLD]);
		report(probe.seen[NEW] && !probe.err[NEW] && probe.value[NEW] == f->expect(f, 1) &&
		       probe.ran[NEW][OOL_HAZARD_RAN] == 1 && probe.ran[NEW][OOL_HAZARD_NEW] == 1,
		       "%s: at %s it ran the new copy: %#lx (expected %#lx; out-of-line runs %lu, new %lu)", f->kind,
		       ool_strategy.phase_names[NEW], probe.value[NEW], f->expect(f, 1), probe.ran[NEW][OOL_HAZARD_RAN],
		       probe.ran[NEW][OOL_HAZARD_NEW]);
		if (f->records_return)
			report(probe.ret[OLD] == end && probe.ret[NEW] == end,
			       "%s: the callee was given the site's end %#lx as its return address both times (%#lx, "
			       "%#lx), not an address in the slot area", f->kind, end, probe.ret[OLD], probe.ret[NEW]);
		uint64_t direct = f->run(f->arg);
		int back = ool_flip(f, 1, 0, 0);
		report(direct == f->expect(f, 1) && back == 0 && f->run(f->arg) == f->expect(f, 0),
		       "%s: afterwards the site itself computes %#lx, and %#lx once flipped back (%s)", f->kind, direct,
		       f->run(f->arg), patch_errname(back));
	}
}
KTEST("patch.ool_runs_each_kind_out_of_line", test_each_kind, .flags = KTEST_HIDDEN);

/* --- 2. the phase rule ------------------------------------------------------ */

/* Which instruction does an observer that runs the site at each phase get,
 * and does it get it out of line? Old until the switch right before the
 * first bytes are written (out of line from the int3 on), new from then on:
 * the batch takes effect at one point (strategies/ool/ool.c). */
static void test_phase_rule(void)
{
	const struct ool_fixture *f = ool_fixture_by_kind("mov $imm,%eax");
	int err = ool_flip(f, 0, 1, ~0u);
	report(err == 0, "mov $imm,%%eax flipped a -> b with CPU %u running it at every phase (%s)", probe.observer,
	       patch_errname(err));
	for (unsigned p = 0; p < OOL_PHASE_COUNT; p++) {
		bool after = p >= OOL_PHASE_NEW_COPIES;                 /* the switch */
		bool trapped = (ool_strategy.trap_phases & BIT(p)) != 0;
		uint64_t want = f->expect(f, after);
		bool ok = probe.seen[p] && !probe.err[p] && probe.value[p] == want;
		const char *how = "";
		if (trapped) {
			ok = ok && probe.ran[p][OOL_HAZARD_RAN] == 1 && probe.ran[p][after ? OOL_HAZARD_NEW : OOL_HAZARD_OLD] == 1;
			how = after ? ", out of line (the new copy)" : ", out of line (the old copy)";
		} else if (p != OOL_PHASE_FIRST_WRITTEN) {
			/* no int3 in its view: it runs the site itself. Right after the
			 * first-byte write, before round 3, a real CPU may still see its
			 * int3 (and run the new copy): either is right there. */
			ok = ok && probe.ran[p][OOL_HAZARD_RAN] == 0;
			how = ", at the site itself";
		}
		report(ok, "phase %-13s: CPU %u got %#lx, expected the %s instruction's %#lx%s (out-of-line runs: %lu)",
		       ool_strategy.phase_names[p], probe.observer, probe.value[p], after ? "new" : "old", want, how,
		       probe.ran[p][OOL_HAZARD_RAN]);
	}
	unsigned int3s = 0;
	for (const uint8_t *p = ool_slot_area; p < ool_slot_area_end; p++)
		int3s += *p == INT3_INSN_OPCODE;
	report(int3s == OOL_AREA_SIZE, "retired, its slots were reclaimed: the slot area holds %u int3s of %u",
	       int3s, OOL_AREA_SIZE);
	report(ool_flip(f, 1, 0, 0) == 0 && f->run(f->arg) == f->expect(f, 0), "flipped back to a");
}
KTEST("patch.ool_phase_rule", test_phase_rule, .flags = KTEST_HIDDEN);

/* --- 3. refusals ------------------------------------------------------------- */

static uint64_t text_sum(void)
{
	uint64_t sum = 0;
	for (const uint64_t *p = (const uint64_t *)__text_start; p < (const uint64_t *)__text_end; p++)
		sum = sum * 31 + *p;
	return sum;
}

struct ool_bad {
	const char *what;
	int expect;
	const void *addr;
	uint8_t len;
	uint8_t new[POKE_MAX_LEN];
};

/* Is everything the strategy cannot run out of line refused with its own
 * code, naming the address, with no byte of .text changed (the slot area
 * included)? */
static void test_refusals(void)
{
	static const struct ool_bad r[] = {
		{ "lea rax, [rip+0x7ffffff0]: beyond the slot area's reach", PATCH_EOOL_RIP_REACH, ool_lea_site, 7,
		  { 0x48, 0x8d, 0x05, 0xf0, 0xff, 0xff, 0x7f } },
		{ "loop rel8", PATCH_EOOL_REL8_ONLY, ool_refuse_nop2, 2, { 0xe2, 0x00 } },
		{ "jrcxz rel8", PATCH_EOOL_REL8_ONLY, ool_refuse_nop2, 2, { 0xe3, 0x00 } },
		{ "int3", PATCH_EOOL_SAVES_RIP, ool_refuse_nop1, 1, { 0xcc } },
		{ "int $0x80", PATCH_EOOL_SAVES_RIP, ool_refuse_nop2, 2, { 0xcd, 0x80 } },
		{ "syscall", PATCH_EOOL_SAVES_RIP, ool_refuse_nop2, 2, { 0x0f, 0x05 } },
		{ "ud2", PATCH_EOOL_SAVES_RIP, ool_refuse_nop2, 2, { 0x0f, 0x0b } },
		{ "iretq", PATCH_EOOL_FLOW, ool_refuse_nop2, 2, { 0x48, 0xcf } },
		{ "sysret", PATCH_EOOL_FLOW, ool_refuse_nop2, 2, { 0x0f, 0x07 } },
		{ "ret $8", PATCH_EOOL_FLOW, ool_refuse_nop3, 3, { 0xc2, 0x08, 0x00 } },
		{ "jmp far [rax]", PATCH_EOOL_FLOW, ool_refuse_nop2, 2, { 0xff, 0x28 } },
		{ "hlt", PATCH_EOOL_WAITS, ool_refuse_nop1, 1, { 0xf4 } },
		{ "mwait", PATCH_EOOL_WAITS, ool_refuse_nop3, 3, { 0x0f, 0x01, 0xc9 } },
		{ "call rsp", PATCH_EOOL_RSP_TARGET, ool_refuse_nop2, 2, { 0xff, 0xd4 } },
		{ "add eax, eax (03 c0)", PATCH_EFIRST_BYTE_03, ool_refuse_nop2, 2, { 0x03, 0xc0 } },
		{ "jz with a branch-hint prefix", PATCH_EBRANCH_UNCHECKED, ool_refuse_nop3, 3, { 0x3e, 0x74, 0x00 } },
		{ "an old ud2 becoming a nop", PATCH_EOOL_SAVES_RIP, ool_refuse_ud2, 2, { 0x66, 0x90 } },
	};
	POKE_BATCH_DEFINE(one, 1);
	uint64_t sum = text_sum();
	uint32_t seen = 0;
	unsigned ok = 0, n = sizeof(r) / sizeof(r[0]);
	one.quiet = true;
	for (unsigned i = 0; i < n; i++) {
		one.strategy = &ool_strategy;
		int err = smp_text_poke_batch_add(&one, (void *)r[i].addr, r[i].addr, r[i].new, r[i].len);
		if (!err)
			err = smp_text_poke_batch_finish(&one);
		smp_text_poke_batch_reset(&one);
		char at[24];
		snprintf(at, sizeof(at), "%#lx", (uintptr_t)r[i].addr);
		bool good = err == -r[i].expect && text_sum() == sum && !strncmp(one.why, at, strlen(at));
		ok += good;
		if (good && r[i].expect >= PATCH_EOOL_RIP_REACH && r[i].expect < PATCH_EOOL_SLOTS_FULL)
			seen |= BIT(r[i].expect - PATCH_EOOL_RIP_REACH);
		report(good, "%s: %s (expected %s), .text %s: %s", r[i].what, patch_errname(err), patch_errname(r[i].expect),
		       text_sum() == sum ? "unchanged" : "CHANGED", one.why);
	}
	unsigned codes = 0;
	for (int e = PATCH_EOOL_RIP_REACH; e < PATCH_EOOL_SLOTS_FULL; e++)
		codes += (seen & BIT(e - PATCH_EOOL_RIP_REACH)) != 0;
	report(ok == n && codes == PATCH_EOOL_SLOTS_FULL - PATCH_EOOL_RIP_REACH,
	       "%u of %u requests refused with their own error, naming the address, .text unchanged; %u distinct "
	       "PATCH_EOOL_* codes", ok, n, codes);
}
KTEST("patch.ool_refusals", test_refusals, .flags = KTEST_HIDDEN);

/* --- 4. the NMI path's value site under NMIs --------------------------------- */

#define NMI_FLIPS 200
#define NMI_TAKEN_US 100000

static uint64_t torn_total(void)
{
	uint64_t n = 0;
	for_each_cpu_in(c, &cpu_online_mask)
		n += __atomic_load_n(&lab_cpu[c].value_hits[VALUE_TORN], __ATOMIC_RELAXED);
	return n;
}

/* The crew's job: an NMI to itself (every NMI runs the value site). */
static void nmi_self_job(unsigned cpu, uint64_t round, void *unused)
{
	(void)round;
	(void)unused;
	__atomic_fetch_or(&percpu_of(cpu)->nmi_reasons, NMI_STORM, __ATOMIC_SEQ_CST);
	apic_send_nmi_self();
}

static struct {
	uint32_t late;                  /* not taken within NMI_TAKEN_US */
	uint32_t ool[OOL_HAZARD_COUNT]; /* went out of line (and which copy) */
	uint32_t direct;                /* ran the site's own bytes: a stale TCG translation */
} self_nmi;

/* The patching CPU, at the phases where trapping CPUs run the old and the
 * new copy: an NMI to itself, taken before the batch goes on, so that its
 * own NMI handler meets the site in flight (and returns into the NMI
 * handler without IRET). Under TCG a translation of the site's page made
 * by the other CPU (whose NMIs run the site all the time) while the int3
 * was being written can outlive the write (patch/trap.c): an NMI that runs
 * the site's own old bytes through it is counted apart. */
static void self_nmi_hook(unsigned p)
{
	if (p != OOL_PHASE_INT3_SYNCED && p != OOL_PHASE_NEW_COPIES)
		return;
	struct percpu *pc = this_cpu();
	struct lab_cpu *lab = &lab_cpu[pc->cpu];
	uint64_t n0 = __atomic_load_n(&pc->nmi_count, __ATOMIC_ACQUIRE), deadline = tsc_deadline_us(NMI_TAKEN_US);
	uint64_t h0[OOL_HAZARD_COUNT], direct0 = lab->value_hits[VALUE_GOT_A] + lab->value_hits[VALUE_GOT_B];
	for (unsigned h = 0; h < OOL_HAZARD_COUNT; h++)
		h0[h] = pc->patch.hazard[h];
	__atomic_fetch_or(&pc->nmi_reasons, NMI_STORM, __ATOMIC_SEQ_CST);
	apic_send_nmi_self();
	while (__atomic_load_n(&pc->nmi_count, __ATOMIC_ACQUIRE) == n0)
		if (tsc_expired(deadline)) {
			self_nmi.late++;
			return;
		}
	for (unsigned h = 0; h < OOL_HAZARD_COUNT; h++)
		self_nmi.ool[h] += (uint32_t)(pc->patch.hazard[h] - h0[h]);
	if (pc->patch.hazard[OOL_HAZARD_RAN] == h0[OOL_HAZARD_RAN])
		self_nmi.direct += (uint32_t)(lab->value_hits[VALUE_GOT_A] + lab->value_hits[VALUE_GOT_B] - direct0);
}

/* Is the NMI path's value site (mov eax, A or B, every byte different)
 * flipped with ool while NMIs fire on every CPU never run torn, and are
 * the NMI handlers, the patching CPU's own included, sent out of line? */
static void test_value_site_under_nmis(void)
{
	const struct patch_site_def *s = site_by_name("nmi_value");
	unsigned me = cpu_id();
	uint64_t torn0 = torn_total(), bp0[MAX_CPUS];
	uint64_t noiret0 = this_cpu()->nmi_noiret, others = 0, hits0[MAX_CPUS][2];
	for_each_cpu_in(c, &cpu_online_mask) {
		bp0[c] = patch_bp_handled(c, BP_NMI);
		hits0[c][0] = lab_cpu[c].value_hits[VALUE_GOT_A];
		hits0[c][1] = lab_cpu[c].value_hits[VALUE_GOT_B];
	}
	memset(&self_nmi, 0, sizeof(self_nmi));
	unsigned crew = crew_start(nmi_self_job, NULL);
	poke_set_phase_hook(self_nmi_hook);
	int err = 0;
	unsigned done = 0;
	for (; done < NMI_FLIPS && !err; done++) {
		uint64_t t0 = rdtsc();
		err = site_patch_by(&ool_strategy, s, &s->var[(done + 1) % 2]);
		crew_flip_took(tsc_to_us(rdtsc() - t0), NULL);
	}
	poke_set_phase_hook(NULL);
	crew_stop(-1);

	uint64_t a = 0, b = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		a += lab_cpu[c].value_hits[VALUE_GOT_A] - hits0[c][0];
		b += lab_cpu[c].value_hits[VALUE_GOT_B] - hits0[c][1];
		if (c != me)
			others += patch_bp_handled(c, BP_NMI) - bp0[c];
	}
	uint64_t mine = patch_bp_handled(me, BP_NMI) - bp0[me];
	report(err == 0 && done == NMI_FLIPS && site_current_variant(s) == &s->var[0],
	       "ool flipped the value site %u times, back to a (%s)", done, patch_errname(err));
	report(torn_total() == torn0, "no NMI ran it torn (%lu torn; %lu runs got a, %lu got b)", torn_total() - torn0,
	       a, b);
	report(self_nmi.late == 0 && self_nmi.ool[OOL_HAZARD_RAN] + self_nmi.direct == 2 * done &&
	       self_nmi.ool[OOL_HAZARD_OLD] > 0 && self_nmi.ool[OOL_HAZARD_NEW] > 0 && mine == self_nmi.ool[OOL_HAZARD_RAN],
	       "the patching CPU's own %u NMIs mid-batch ran the site once each: %u out of line in NMI context (old copy "
	       "%u, new copy %u), %u through a stale TCG translation of its old bytes; %u late", 2 * done,
	       self_nmi.ool[OOL_HAZARD_RAN], self_nmi.ool[OOL_HAZARD_OLD], self_nmi.ool[OOL_HAZARD_NEW], self_nmi.direct,
	       self_nmi.late);
	report(this_cpu()->nmi_noiret - noiret0 >= mine,
	       "each went to its copy through the return without IRET into the NMI handler (%lu returns for %lu runs)",
	       this_cpu()->nmi_noiret - noiret0, mine);
	if (crew)
		report(others > 0, "%u other CPU(s), NMIing themselves, ran it out of line in NMI context %lu times",
		       crew, others);
}
KTEST("patch.ool_value_site_under_nmis", test_value_site_under_nmis, .flags = KTEST_HIDDEN, .timeout_ms = 120000);

/* --- 5. retirement waits for a CPU inside a copy ----------------------------- */

#define REP_BYTES (8u << 20)            /* tens of ms of rep stosb under TCG */
#define REP_START_US 2000000
#define REP_ATTEMPTS 5

static uint8_t rep_buf[REP_BYTES];
static struct {
	unsigned observer;
	bool started;
	uint8_t last_at_synced, last_at_retired;        /* the copy's last byte, at first-synced / retired */
} rep;

static void rep_job(void *unused)
{
	(void)unused;
	ool_rep_fn(rep_buf, REP_BYTES);
}

/* The patching CPU: at new-copies (int3s in place, the last round still to
 * come), start the observer on the rep site (it traps and runs the new
 * copy, rep stosb, which takes interrupts between iterations) and wait
 * until it is inside; at first-synced and at retired, note whether it has
 * left (the copy writes its last byte just before it leaves). */
static void rep_hook(unsigned p)
{
	if (p == OOL_PHASE_NEW_COPIES) {
		uint64_t deadline = tsc_deadline_us(REP_START_US);
		if (on_cpu_async(rep.observer, rep_job, NULL))
			return;
		while (!__atomic_load_n(&rep_buf[0], __ATOMIC_ACQUIRE) && !tsc_expired(deadline))
			cpu_relax();
		rep.started = rep_buf[0] == OOL_REP_BYTE;
	} else if (p == OOL_PHASE_FIRST_SYNCED) {
		rep.last_at_synced = __atomic_load_n(&rep_buf[REP_BYTES - 1], __ATOMIC_ACQUIRE);
	} else if (p == OOL_PHASE_RETIRED) {
		rep.last_at_retired = __atomic_load_n(&rep_buf[REP_BYTES - 1], __ATOMIC_ACQUIRE);
	}
}

/* Does the batch's last round complete while a CPU is still running a copy
 * (it acknowledges the round from inside it), and does retirement, after
 * which the slots are reclaimed and reused, wait until that CPU has left
 * the copy? The copy must outlast the round for the question to be asked:
 * an attempt in which it did not (the host did not run the observer's vCPU
 * meanwhile) is made again. */
static void test_retire_waits_for_copy(void)
{
	const uint8_t a[2] = { 0xf3, 0xac }, b[2] = { 0xf3, 0xaa };        /* rep lodsb, rep stosb */
	unsigned attempt = 0, filled = 0, observer = observer_cpu();
	int err = 0, done = 0, back = 0;
	uint64_t ran = 0, retire_us = 0;
	do {
		uint64_t ran0 = hazard_of(observer, OOL_HAZARD_NEW);
		memset(rep_buf, 0, sizeof(rep_buf));
		memset(&rep, 0, sizeof(rep));
		rep.observer = observer;
		poke_set_phase_hook(rep_hook);
		err = smp_text_poke_one(&ool_strategy, (void *)ool_rep_site, a, b, 2);
		poke_set_phase_hook(NULL);
		done = cpu_wait_done(observer, 10000000);
		ran = hazard_of(observer, OOL_HAZARD_NEW) - ran0;
		struct poke_stats st;
		poke_get_stats(&st);
		retire_us = tsc_to_us(st.cycles_retire);
		filled = 0;
		for (unsigned i = 0; i < REP_BYTES; i++)
			filled += rep_buf[i] == OOL_REP_BYTE;
		back = smp_text_poke_one(&ool_strategy, (void *)ool_rep_site, b, a, 2);
		attempt++;
	} while (!err && !back && rep.started && rep.last_at_synced == OOL_REP_BYTE && attempt < REP_ATTEMPTS);

	report(err == 0 && rep.started && ran == 1,
	       "CPU %u hit the rep site at new-copies and went into its new copy, rep stosb (%s; new copies run %lu)",
	       observer, patch_errname(err), ran);
	report(rep.last_at_synced != OOL_REP_BYTE,
	       "the last round completed while it was still inside the copy, acknowledging from there (attempt %u of "
	       "at most %u): the window was hit", attempt, REP_ATTEMPTS);
	report(rep.last_at_retired == OOL_REP_BYTE,
	       "retirement completed only once it had left the copy: the copy's last byte was written by then (%#x); "
	       "retirement waited %lu us", rep.last_at_retired, retire_us);
	report(done == 0 && filled == REP_BYTES, "the copy ran to its end: %u of %u bytes filled", filled, REP_BYTES);
	report(back == 0, "flipped back to rep lodsb (%s)", patch_errname(back));
}
KTEST("patch.ool_retire_waits_for_copy", test_retire_waits_for_copy, .flags = KTEST_HIDDEN, .min_cpus = 2);

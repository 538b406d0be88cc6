/*
 * tests/kernel/test_alternative.c — CPU-feature alternatives
 * (clients/alternative/): the boot application checked against CPUID and
 * against where it ran (the boot CPU's own NMI, before the APs), a
 * multi-instruction site re-patched under bystanders by the strategy that
 * is safe for it (and torn without its inside check), and refused by the
 * others with their own error, no byte changed.
 */
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/irq.h"
#include "arch/x86/layout.h"
#include "arch/x86/tsc.h"
#include "clients/alternative/alternative.h"
#include "kernel/crc32.h"
#include "kernel/errno.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/string.h"
#include "lab/alt_sites.h"
#include "lab/crew.h"
#include "patch/patch.h"
#include "strategies/stop_machine/stop_machine.h"

/* The CRC of every site's bytes, in entry order. */
static uint32_t sites_crc(void)
{
	uint32_t crc = 0;
	for (const struct alt_entry *e = __alt_instructions_start; e < __alt_instructions_end; e++)
		crc = crc32(crc, (const void *)alt_site(e), alt_len(e));
	return crc;
}

/* Does every site hold the variant its feature implies now? */
static unsigned sites_wrong(void)
{
	unsigned wrong = 0;
	uint8_t want[POKE_MAX_LEN];
	for (const struct alt_entry *e = __alt_instructions_start; e < __alt_instructions_end; e++) {
		alt_bytes(e, alt_feature_on(e->feature), want);
		if (memcmp(want, (const void *)alt_site(e), alt_len(e))) {
			wrong++;
			report_info("site %#lx (%s): not the %s variant", alt_site(e), alt_features[e->feature].name,
				    alt_feature_on(e->feature) ? "new" : "old");
		}
	}
	return wrong;
}

/* Boot: each site is replacement+pad where CPUID has its feature, else as
 * built; the applier ran once, in NMI context, on the BSP, alone. */
static void test_boot(void)
{
	unsigned on = 0, masked = 0;
	for (unsigned f = 0; f < ALT_NR_FEATURES; f++) {
		struct cpuid_regs r = cpuid(alt_features[f].leaf, alt_features[f].subleaf);
		uint32_t reg = (uint32_t[]){ r.eax, r.ebx, r.ecx, r.edx }[alt_features[f].reg];
		bool cpuid_has = (reg >> alt_features[f].bit) & 1;
		uint32_t max = cpuid(alt_features[f].leaf & 0x80000000u, 0).eax;
		if (alt_features[f].leaf > max)
			cpuid_has = false;
		report(alt_features[f].present == cpuid_has, "%s: table says %d, CPUID %#x.%u says %d",
		       alt_features[f].name, alt_features[f].present, alt_features[f].leaf, alt_features[f].subleaf,
		       cpuid_has);
		on += alt_feature_on(f) ? alt_feature_sites(f) : 0;
		masked += alt_features[f].masked;
	}
	report(masked == 0, "no feature masked at boot (%u)", masked);
	report(alt_nr_sites() >= 3 && alt_boot.sites == alt_nr_sites(), "%u sites (boot saw %u)", alt_nr_sites(),
	       alt_boot.sites);
	report(sites_wrong() == 0, "every site holds replacement+pad if its feature is on, else original+pad "
	       "(%u sites new)", on);
	report(alt_boot.written == on, "the boot wrote the %u sites whose feature is on (%u)", on, alt_boot.written);
	report(alt_boot.ran_in_nmi == 1 && alt_boot.nmi_depth >= 1, "the applier ran in NMI context (%u time(s), "
	       "NMI depth %u)", alt_boot.ran_in_nmi, alt_boot.nmi_depth);
	report(alt_boot.cpu == 0 && alt_boot.cpus_online == 1, "on the boot CPU before the APs started (CPU %u, "
	       "%u online)", alt_boot.cpu, alt_boot.cpus_online);
	/* and the sites compute what they should, whichever variant runs */
	uint64_t t0 = lab_alt_rdtsc(), t1 = lab_alt_rdtsc();
	report(lab_alt_popcount(0xf0f0f0f000000000ull) == 16 && lab_alt_popcount(~0ull) == 64 &&
	       lab_popcount_sw(0x8001) == 2, "popcount site counts bits (%lu of 16)",
	       lab_alt_popcount(0xf0f0f0f000000000ull));
	report(t1 > t0, "rdtsc site reads a rising TSC (%lu, %lu)", t0, t1);
	uint32_t tag = lab_alt_tag();
	report(tag == (alt_feature_on(ALT_F_ERMS) ? LAB_ALT_TAG_NEW : LAB_ALT_TAG_OLD), "tag site runs the %s "
	       "variant (%#x)", alt_feature_on(ALT_F_ERMS) ? "new" : "old", tag);
}
KTEST("alt.boot_matches_cpuid", test_boot);

/* Any strategy without multi_insn refuses the multi-instruction sites
 * with PATCH_EMULTI_INSN, no byte changed; stop-machine-nmi takes them;
 * a call not last and unmasking an absent feature are refused too. */
static void test_refusals(void)
{
	static const char *const unsafe[] = { "int3", "int3-2round", "ool", "roll-forward", "nmi", "stop-machine" };
	unsigned f = ALT_F_RDTSCP;
	if (!alt_features[f].present) {
		report_skip("the CPU lacks rdtscp: its site cannot change");
		return;
	}
	for (unsigned i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
		uint32_t crc = sites_crc();
		struct alt_result r;
		int err = alt_mask(f, true, patch_strategy_find(unsafe[i]), true, &r);
		report(err == -PATCH_EMULTI_INSN && sites_crc() == crc && !alt_features[f].masked,
		       "%s refuses to mask rdtscp (%s), sites unchanged: %s", unsafe[i], patch_errname(err), r.why);
	}
	uint32_t crc = sites_crc();
	struct alt_result r;
	int err = alt_mask(f, true, NULL, true, &r);
	uint64_t t1 = lab_alt_rdtsc();  /* two reads, in this order (not two operands of one <) */
	uint64_t t2 = lab_alt_rdtsc();
	report(!err && alt_features[f].masked && sites_wrong() == 0 && t1 < t2,
	       "stop-machine-nmi masks rdtscp (%s): %u sites, %u rounds; the masked site reads the TSC (%lu < %lu)",
	       patch_errname(err), r.sites, r.rounds, t1, t2);
	err = alt_mask(f, false, NULL, true, &r);
	report(!err && !alt_features[f].masked && sites_crc() == crc, "and unmasks it: the bytes are as they were");

	/* one instruction each way (popcnt <-> call): not the core's refusal;
	 * ool runs either out of line */
	if (alt_features[ALT_F_POPCNT].present) {
		err = alt_mask(ALT_F_POPCNT, true, patch_strategy_find("ool"), true, &r);
		uint64_t masked = lab_alt_popcount(0x1234);
		int err2 = alt_mask(ALT_F_POPCNT, false, patch_strategy_find("ool"), true, &r);
		report(!err && !err2 && masked == 5 && lab_alt_popcount(0x1234) == 5 && sites_wrong() == 0,
		       "ool masks and unmasks popcnt, one instruction each way (%s, %s)", patch_errname(err),
		       patch_errname(err2));
	}

	/* a replacement with a call before its end */
	uintptr_t tag = 0;
	for (const struct alt_entry *e = __alt_instructions_start; e < __alt_instructions_end; e++)
		if (e->feature == ALT_F_ERMS)
			tag = alt_site(e);
	uint8_t old[8], new[8] = { 0xe8, 0, 0, 0, 0, 0x0f, 0x1f, 0x00 };     /* call; nopl (%rax) */
	int32_t rel = (int32_t)((uintptr_t)lab_popcount_sw - (tag + 5));
	memcpy(new + 1, &rel, 4);
	memcpy(old, (const void *)tag, 8);
	crc = sites_crc();
	err = smp_text_poke_one(patch_strategy_find("stop-machine-nmi"), (void *)tag, old, new, 8);
	report(err == -PATCH_EMULTI_CALL_NOT_LAST && sites_crc() == crc, "a call that is not the last instruction "
	       "is refused (%s)", patch_errname(err));

	/* unmasking what the CPU lacks */
	int absent = -1;
	for (unsigned g = 0; g < ALT_NR_FEATURES; g++)
		if (!alt_features[g].present)
			absent = (int)g;
	if (absent < 0) {
		report_skip("the CPU has every feature of the table: no absent one to unmask");
		return;
	}
	crc = sites_crc();
	err = alt_mask((unsigned)absent, false, NULL, true, &r);
	report(err == -ENODEV && sites_crc() == crc && !alt_features[absent].masked,
	       "unmasking %s, which the CPU lacks, is refused (%d): %s", alt_features[absent].name, err, r.why);
}
KTEST("alt.refusals", test_refusals);

/* A replacement is moved from .altinstr_replacement to its site at boot
 * (disasm_relocate_seq): a RIP-relative operand and a last direct call
 * keep their targets; any other relative branch, or a call before the
 * end, is refused by name. */
static void test_relocation(void)
{
	const uintptr_t from = 0xffffffff80400000ul, to = 0xffffffff80100000ul;
	char why[128];
	/* mov 0x1000(%rip), %eax; call +0x20 */
	uint8_t seq[11] = { 0x8b, 0x05, 0x00, 0x10, 0x00, 0x00, 0xe8, 0x20, 0x00, 0x00, 0x00 };
	int err = disasm_relocate_seq(seq, sizeof(seq), from, to, why, sizeof(why));
	int32_t disp, rel;
	memcpy(&disp, seq + 2, 4);
	memcpy(&rel, seq + 7, 4);
	report(!err && to + 6 + disp == from + 6 + 0x1000 && to + 11 + rel == from + 11 + 0x20,
	       "a RIP-relative load and a last call keep their targets when moved (%d: disp %#x, rel %#x)", err,
	       (unsigned)disp, (unsigned)rel);
	static const struct { uint8_t bytes[8]; uint8_t len; const char *what; } bad[] = {
		{ { 0xeb, 0x02, 0x90, 0x90 }, 4, "jmp rel8" },
		{ { 0x74, 0x02, 0x90, 0x90 }, 4, "jz rel8" },
		{ { 0xe8, 0x00, 0x00, 0x00, 0x00, 0x90 }, 6, "call, then nop" },
		{ { 0xe9, 0x00, 0x00, 0x00, 0x00 }, 5, "jmp rel32 last" },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t b[8];
		memcpy(b, bad[i].bytes, sizeof(b));
		why[0] = 0;
		err = disasm_relocate_seq(b, bad[i].len, from, to, why, sizeof(why));
		report(err && why[0], "%s in a replacement is refused: %s", bad[i].what, why);
	}
}
KTEST("alt.replacement_relocation", test_relocation);

/* The bystanders: run the tag site in a tight loop, count what it gave.
 * The loop pauses once outside the site as the site does once inside it,
 * so a stop (taken where TCG leaves a block: after a PAUSE) finds a
 * bystander inside about half of the time, not nearly always. */
static uint64_t tag_old[MAX_CPUS], tag_new[MAX_CPUS], tag_torn[MAX_CPUS];
static uint32_t tag_torn_value[MAX_CPUS];

static void tag_bystander(unsigned cpu, uint64_t round, void *unused)
{
	(void)round;
	(void)unused;
	for (unsigned i = 0; i < 64; i++) {
		uint32_t v = lab_alt_tag();
		cpu_relax();
		if (v == LAB_ALT_TAG_OLD)
			tag_old[cpu]++;
		else if (v == LAB_ALT_TAG_NEW)
			tag_new[cpu]++;
		else {
			tag_torn[cpu]++;
			tag_torn_value[cpu] = v;
		}
	}
}

struct flips {
	unsigned n;
	int err;
	uint64_t retries, old, new, torn;
	uint32_t torn_value;
};

/* Mask/unmask erms (the tag site) at least min times, then until done()
 * says so, for at most max_ms, under the crew. */
static void flip_tag(unsigned min, unsigned max_ms, bool (*done)(const struct flips *), struct flips *out)
{
	memset(tag_old, 0, sizeof(tag_old));
	memset(tag_new, 0, sizeof(tag_new));
	memset(tag_torn, 0, sizeof(tag_torn));
	memset(out, 0, sizeof(*out));
	uint64_t h0 = patch_hazard_all(STOP_HAZARD_INSIDE_RETRY);
	crew_start(tag_bystander, NULL);
	uint64_t t0 = rdtsc();
	for (;;) {
		/* Flip times are not reported to the crew (crew_flip_took): it
		 * must not nap, or the stops would find it halted, never inside. */
		out->err = alt_mask(ALT_F_ERMS, !alt_features[ALT_F_ERMS].masked, NULL, false, NULL);
		out->n++;
		out->retries = patch_hazard_all(STOP_HAZARD_INSIDE_RETRY) - h0;
		for (unsigned c = 0; c < MAX_CPUS; c++)
			out->torn += tag_torn[c];
		if (out->err || (out->n >= min && (done(out) || tsc_to_us(rdtsc() - t0) > max_ms * 1000ull)))
			break;
		out->torn = 0;
	}
	crew_stop(-1);
	out->torn = 0;
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		out->old += tag_old[c];
		out->new += tag_new[c];
		out->torn += tag_torn[c];
		if (tag_torn[c])
			out->torn_value = tag_torn_value[c];
	}
	if (alt_features[ALT_F_ERMS].masked)
		alt_mask(ALT_F_ERMS, false, NULL, false, NULL);
}

static bool retried(const struct flips *f) { return f->retries > 0; }
static bool tore(const struct flips *f) { return f->torn > 0; }

/* Flips each phase makes at least, whatever it saw first (a hit in the
 * first flips does not end a phase that checks for no torn run): about
 * 90 ms a flip at -smp 8, where ktest-smp8 runs these in make test. */
#define TAG_SAFE_FLIPS   24     /* with the inside check: no torn run in any */
#define TAG_UNSAFE_FLIPS 8      /* without: then until the first torn run */
#define NESTED_FLIPS     16
#define TAG_MAX_MS       4000

/* Under bystanders running the multi-instruction tag site, stop-machine-nmi
 * re-patches it with no torn run, because it retried whenever a stopped
 * CPU was inside (the hazard, counted); with the inside check off
 * (patch.unsafe_inside) the bystanders do see torn runs. */
static void test_bystanders(void)
{
	if (nr_cpus_online < 2) {
		report_skip("needs a second CPU to run the site while it is patched");
		return;
	}
	if (!alt_features[ALT_F_ERMS].present) {
		report_skip("the CPU lacks erms: the tag site cannot change");
		return;
	}
	struct flips safe, unsafe;
	bool knob = stop_unsafe_inside;
	stop_unsafe_inside = false;
	flip_tag(TAG_SAFE_FLIPS, TAG_MAX_MS, retried, &safe);
	report_info("with the inside check: %u flips, %lu retries; runs old %lu, new %lu, torn %lu", safe.n,
		    safe.retries, safe.old, safe.new, safe.torn);
	report(!safe.err, "every mask/unmask applied (%s)", patch_errname(safe.err));
	report(safe.torn == 0, "no bystander ran a torn sequence (%lu did, e.g. %#x)", safe.torn, safe.torn_value);
	report(safe.old > 0 && safe.new > 0, "both variants ran (old %lu, new %lu)", safe.old, safe.new);
	report(safe.retries > 0, "the window was hit: a stopped CPU was inside the site %lu times, and the stop "
	       "was retried", safe.retries);

	stop_unsafe_inside = true;      /* the lab knob: the check off */
	flip_tag(TAG_UNSAFE_FLIPS, TAG_MAX_MS, tore, &unsafe);
	stop_unsafe_inside = knob;
	report_info("without it (patch.unsafe_inside): %u flips; runs old %lu, new %lu, torn %lu (e.g. %#x)", unsafe.n,
		    unsafe.old, unsafe.new, unsafe.torn, unsafe.torn_value);
	report(!unsafe.err, "every mask/unmask applied without the check too (%s)", patch_errname(unsafe.err));
	report(unsafe.torn > 0, "and a bystander resumed mid-sequence in the other variant's bytes: %lu torn runs "
	       "(%#x is neither %#x nor %#x)", unsafe.torn, unsafe.torn_value, LAB_ALT_TAG_OLD, LAB_ALT_TAG_NEW);
	report(sites_wrong() == 0, "every site back to its CPUID variant");
}
KTEST("alt.bystanders_multi_insn", test_bystanders, .timeout_ms = 60000);

/*
 * The inside check reads every frame a stopped CPU interrupted, not only
 * the innermost: here the tag site's CPU (tag_cpu) is interrupted by IPIs
 * from the other bystanders whose handler spins TAG_IRQ_US, so a stop
 * mostly lands in that handler, with the thread's RIP (inside the site
 * about half of the time) one frame below:
 *
 *   patcher            tag_cpu                          sender CPU
 *                      thread: add; pause |   <-------  IPI VEC_TEST
 *                      IRQ handler: spin TAG_IRQ_US
 *   stop NMI  ------>  NMI: rips = {site+5, handler}    (waits TAG_GAP_US)
 *   site+5 is inside: re-stop tag_cpu (hazard "nested")
 *
 * A check of the innermost frame alone writes here, and the IRQ returns
 * into the middle of the other variant (torn).
 */
#define TAG_IRQ_US     20
#define TAG_GAP_US     40
#define NESTED_MAX_MS  5000

static unsigned tag_cpu;
static uint64_t tag_irqs;

/* IRQ context (VEC_TEST, a test hook): hold the interrupted thread. */
static void tag_irq(struct regs *r)
{
	(void)r;
	__atomic_fetch_add(&tag_irqs, 1, __ATOMIC_RELAXED);
	uint64_t end = tsc_deadline_us(TAG_IRQ_US);
	while (!tsc_expired(end))
		cpu_relax();
}

static void nested_job(unsigned cpu, uint64_t round, void *unused)
{
	if (cpu == tag_cpu) {
		tag_bystander(cpu, round, unused);
		return;
	}
	apic_send_ipi(percpu_of(tag_cpu)->apic_id, VEC_TEST);
	uint64_t gap = tsc_deadline_us(TAG_GAP_US);
	while (!tsc_expired(gap))
		cpu_relax();
}

static void test_nested(void)
{
	if (!alt_features[ALT_F_ERMS].present) {
		report_skip("the CPU lacks erms: the tag site cannot change");
		return;
	}
	memset(tag_old, 0, sizeof(tag_old));
	memset(tag_new, 0, sizeof(tag_new));
	memset(tag_torn, 0, sizeof(tag_torn));
	tag_cpu = cpumask_next(&cpu_online_mask, 0);
	if (tag_cpu == cpu_id())
		tag_cpu = cpumask_next(&cpu_online_mask, tag_cpu + 1);
	__atomic_store_n(&tag_irqs, 0, __ATOMIC_RELAXED);
	irq_register(VEC_TEST, tag_irq);
	uint64_t n0 = patch_hazard_all(STOP_HAZARD_INSIDE_NESTED), r0 = patch_hazard_all(STOP_HAZARD_INSIDE_RETRY);
	uint64_t u0 = patch_hazard_all(STOP_HAZARD_INSIDE_UNKNOWN);
	crew_start(nested_job, NULL);
	uint64_t t0 = rdtsc();
	unsigned flips = 0;
	int err = 0;
	while (!err && (flips < NESTED_FLIPS || (patch_hazard_all(STOP_HAZARD_INSIDE_NESTED) == n0 &&
						 tsc_to_us(rdtsc() - t0) < NESTED_MAX_MS * 1000ull))) {
		err = alt_mask(ALT_F_ERMS, !alt_features[ALT_F_ERMS].masked, NULL, false, NULL);
		flips++;
	}
	crew_stop(-1);
	irq_register(VEC_TEST, NULL);
	if (alt_features[ALT_F_ERMS].masked)
		alt_mask(ALT_F_ERMS, false, NULL, false, NULL);
	uint64_t nested = patch_hazard_all(STOP_HAZARD_INSIDE_NESTED) - n0;
	uint64_t retries = patch_hazard_all(STOP_HAZARD_INSIDE_RETRY) - r0;
	uint64_t unknown = patch_hazard_all(STOP_HAZARD_INSIDE_UNKNOWN) - u0;
	uint64_t torn = 0, old = 0, new = 0;
	uint32_t torn_value = 0;
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		old += tag_old[c];
		new += tag_new[c];
		torn += tag_torn[c];
		if (tag_torn[c])
			torn_value = tag_torn_value[c];
	}
	report_info("tag site on CPU %u: %u flips, %lu IRQs held it; retries %lu, of them in a frame under the "
		    "innermost %lu, unknown (a handler entering or leaving) %lu; runs old %lu, new %lu, torn %lu", tag_cpu,
		    flips, tag_irqs, retries, nested, unknown, old, new, torn);
	report(!err, "every mask/unmask applied (%s)", patch_errname(err));
	report(torn == 0, "no torn run, though stops landed in IRQ handlers (%lu torn, e.g. %#x)", torn, torn_value);
	report(nested > 0, "the window was hit: %lu times the CPU inside the site was found in the frame an IRQ "
	       "handler interrupted, not the innermost", nested);
}
KTEST("alt.nested_frames_checked", test_nested, .min_cpus = 3, .timeout_ms = 60000);

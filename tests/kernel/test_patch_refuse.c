/*
 * tests/kernel/test_patch_refuse.c — every kind of bad request is refused
 * with its own error, before any byte moves.
 */
#include "arch/x86/paging.h"
#include "kernel/ktest.h"
#include "kernel/string.h"
#include "patch/live.h"
#include "patch/trap.h"
#include "strategies/int3/int3.h"
#include "patch/insn.h"
#include "patch/patch.h"
#include "clients/sites/sites.h"
#include "lab/fixture_sites.h"

static uint64_t text_sum(void)
{
	uint64_t sum = 0;
	for (const uint64_t *p = (const uint64_t *)__text_start; p < (const uint64_t *)__text_end; p++)
		sum = sum * 31 + *p;
	return sum;
}

static const uint32_t some_data = 0x12345678;
uint32_t trap_int_imm3(void);                   /* bp_helpers.asm: xor eax, eax; int $3; ... */

struct bad_request {
	const char *what;
	int expect;
	const void *addr;
	size_t len;
	uint8_t old[16];                /* used when !old_is_current */
	uint8_t new[16];
	bool old_is_current;            /* expected old = the bytes there now */
};

/* A 5-byte call (e8) or jmp (e9) at site to target. */
static void rel32_to(uint8_t op, const void *site, const void *target, uint8_t *out)
{
	if (op == CALL_INSN_OPCODE)
		insn_call((uintptr_t)site, (uintptr_t)target, out);
	else
		insn_jmp32((uintptr_t)site, (uintptr_t)target, out);
}

static void call_to(const void *site, const void *target, uint8_t *out)
{
	insn_call((uintptr_t)site, (uintptr_t)target, out);
}

/* Is each bad request refused with its own error, leaving .text as it was? */
static void test_refusals(void)
{
	struct bad_request r[] = {
		{ "length 0", PATCH_ELEN_ZERO, flip_call_site, 0, {0}, {0}, true },
		{ "length 16", PATCH_ELEN_TOO_LONG, flip_call_site, 16, {0}, {0}, true },
		{ "outside .text (.rodata)", PATCH_EOUTSIDE_TEXT, &some_data, 1, {0x78}, {0x90}, false },
		{ "straddling the end of .text", PATCH_ESTRADDLES_TEXT_END, __text_end - 2, 5, {0}, {0}, true },
		{ "inside the #BP handler", PATCH_EPROTECTED, patch_on_bp, 1, {0}, {0x90}, true },
		{ "mid-instruction address", PATCH_EMID_INSN, flip_call_site + 1, 1, {0}, {0x90}, true },
		{ "expected old bytes differ", PATCH_EOLD_MISMATCH, flip_call_site, 5, {0x90, 0x90, 0x90, 0x90, 0x90},
		  {0x0f, 0x1f, 0x44, 0x00, 0x00}, false },
		{ "old instruction longer than the site", PATCH_EOLD_LENGTH, flip_call_site, 2, {0}, {0x66, 0x90}, true },
		{ "old bytes are two instructions", PATCH_EMULTI_INSN, two_nops_site, 2, {0}, {0x66, 0x90}, true },
		{ "new bytes do not decode", PATCH_ENEW_UNDECODABLE, flip_nop2_site, 2, {0}, {0x06, 0x06}, true },
		{ "new instruction longer than the site", PATCH_ENEW_LENGTH, flip_nop2_site, 2, {0}, {0xe8, 0x00}, true },
		{ "new bytes are five instructions", PATCH_EMULTI_INSN, flip_call_site, 5, {0},
		  {0x90, 0x90, 0x90, 0x90, 0x90}, true },
		{ "new instruction not emulatable (mov)", PATCH_ENOT_EMULATABLE, flip_call_site, 5, {0},
		  {0xb8, 0x01, 0x00, 0x00, 0x00}, true },
		{ "new call leaves .text", PATCH_ETARGET_OUTSIDE_TEXT, flip_call_site, 5, {0}, {0}, true },
		{ "new jmp lands mid-instruction", PATCH_ETARGET_MID_INSN, flip_nop5_site, 5, {0}, {0}, true },
		{ "new call lands on an instruction that starts no function", PATCH_ECALL_NOT_FUNCTION,
		  flip_nop5_site, 5, {0}, {0}, true },
		{ "new jmp lands in the no-patch region", PATCH_ETARGET_PROTECTED, flip_nop5_site, 5, {0}, {0}, true },
		{ "new jmp lands in its own tail", PATCH_ETARGET_IN_SITE, flip_nop5_site, 5, {0}, {0}, true },
		{ "a function's last ret becomes a nop", PATCH_EFALLS_OFF_END, flip_ret_a + 5, 1, {0}, {0x90}, true },
		{ "an int $3 becomes a nop", PATCH_EOLD_INT3, (const char *)trap_int_imm3 + 2, 2, {0}, {0x66, 0x90}, true },
		{ "new bytes: a nop, then part of a call", PATCH_ENEW_MULTI, flip_call_site, 5, {0},
		  {0x90, 0xe8, 0x00, 0x00, 0x00}, true },
	};
	call_to(flip_call_site, &some_data, r[13].new);
	rel32_to(JMP32_INSN_OPCODE, flip_nop5_site, flip_call_site + 1, r[14].new);
	call_to(flip_nop5_site, flip_nop5_site + 5, r[15].new);                 /* its ret */
	rel32_to(JMP32_INSN_OPCODE, flip_nop5_site, (const void *)patch_on_bp, r[16].new);
	rel32_to(JMP32_INSN_OPCODE, flip_nop5_site, flip_nop5_site + 2, r[17].new);

	uint64_t sum = text_sum();
	int seen[PATCH_ERR_END] = {0};
	unsigned ok = 0;
	_Static_assert(sizeof(r) / sizeof(r[0]) == 21, "the targets above are filled in by index");
	for (unsigned i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		uint8_t old[16];
		if (r[i].old_is_current)
			memcpy(old, r[i].addr, r[i].len > 16 ? 16 : r[i].len);
		else
			memcpy(old, r[i].old, 16);
		int err = smp_text_poke_single((void *)r[i].addr, old, r[i].new, r[i].len);
		bool good = err == -r[i].expect && text_sum() == sum;
		ok += good;
		if (err < 0 && -err < PATCH_ERR_END)
			seen[-err]++;
		report(good, "%s: %s (expected %s), .text %s", r[i].what, patch_errname(err),
		       patch_errname(r[i].expect), text_sum() == sum ? "unchanged" : "CHANGED");
	}

	/* Overlapping sites in one batch; and a full batch. */
	POKE_BATCH_DEFINE(two, 2);
	POKE_BATCH_DEFINE(one, 1);
	uint8_t cur[5];
	const uint8_t *nop5 = insn_nop_bytes[5];
	memcpy(cur, flip_call_site, 5);
	int err = smp_text_poke_batch_add(&two, (void *)flip_call_site, cur, nop5, 5);
	report(err == 0, "first site of the batch accepted");
	err = smp_text_poke_batch_add(&two, (void *)flip_call_site, cur, nop5, 5);
	/* Sites are checked against each other when the batch is applied
	 * (patch_validate_batch: sorted, O(n log n)). */
	if (!err)
		err = smp_text_poke_batch_finish(&two);
	report(err == -PATCH_EOVERLAP, "the same site again: %s (expected PATCH_EOVERLAP): %s", patch_errname(err),
	       two.why);
	seen[PATCH_EOVERLAP] += err == -PATCH_EOVERLAP;
	smp_text_poke_batch_reset(&two);
	err = smp_text_poke_batch_add(&one, (void *)flip_call_site, cur, nop5, 5);
	uint8_t nop2[2] = {0x66, 0x90}, jmp2[2];
	memcpy(jmp2, flip_nop2_site, 2);
	int err2 = smp_text_poke_batch_add(&one, (void *)flip_nop2_site, nop2, jmp2, 2);
	report(err == 0 && err2 == -PATCH_EBATCH_FULL, "a second site in a one-site batch: %s (expected PATCH_EBATCH_FULL)",
	       patch_errname(err2));
	seen[PATCH_EBATCH_FULL] += err2 == -PATCH_EBATCH_FULL;
	smp_text_poke_batch_reset(&one);

	/* The torn target: a nop becoming "jmp S+2" in the batch that rewrites
	 * the call at S. A CPU the int3 at the nop sends to S+2 while step 2
	 * writes S's tail would execute a torn instruction. */
	uint8_t call_a[5], call_b[5], jmp_s2[5];
	const struct patch_site_def *call = site_by_name("call");
	site_encode(call, variant_by_name(call, "a"), call_a);
	site_encode(call, variant_by_name(call, "b"), call_b);
	rel32_to(JMP32_INSN_OPCODE, flip_nop5_site, flip_call_site + 2, jmp_s2);
	err = smp_text_poke_batch_add(&two, (void *)flip_call_site, call_a, call_b, 5);
	/* Refused as it is added: S+2, in the tail of the one instruction S,
	 * is no instruction boundary (the batch-wide check of branches into
	 * the batch's sites, patch_validate_batch, is the second guard). */
	err2 = smp_text_poke_batch_add(&two, (void *)flip_nop5_site, nop5, jmp_s2, 5);
	report(err == 0 && err2 == -PATCH_ETARGET_MID_INSN,
	       "nop -> jmp S+2 beside the call S in one batch: %s (expected PATCH_ETARGET_MID_INSN): %s",
	       patch_errname(err2), two.why);
	smp_text_poke_batch_reset(&two);
	report(text_sum() == sum, ".text unchanged by the batch refusals");

	unsigned distinct = 0;
	for (int e = PATCH_ELEN_ZERO; e < PATCH_ERR_END; e++)
		distinct += seen[e] > 0;
	report(ok == sizeof(r) / sizeof(r[0]) && distinct >= 22,
	       "%u of %zu single requests refused with their own error, .text unchanged; %u distinct codes in all",
	       ok, sizeof(r) / sizeof(r[0]), distinct);
}
KTEST("patch.bad_requests_refused", test_refusals);

/* A site that is part of the batch being applied right now is busy, and
 * no new branch may land in its tail. */
static int busy_err, tail_err;
POKE_BATCH_DEFINE(busy_batch, 1);

static void try_busy_site(unsigned p)
{
	if (p != PHASE_INT3_WRITTEN)
		return;
	uint8_t cur[5], jmp_s2[5];
	const uint8_t *nop5 = insn_nop_bytes[5];
	memcpy(cur, flip_call_site, 5);
	busy_err = smp_text_poke_batch_add(&busy_batch, (void *)flip_call_site, cur, nop5, 5);
	smp_text_poke_batch_reset(&busy_batch);
	rel32_to(JMP32_INSN_OPCODE, flip_nop5_site, flip_call_site + 2, jmp_s2);
	tail_err = smp_text_poke_batch_add(&busy_batch, (void *)flip_nop5_site, nop5, jmp_s2, 5);
	smp_text_poke_batch_reset(&busy_batch);
}

static void test_busy(void)
{
	const struct patch_site_def *s = site_by_name("call");
	busy_err = 0;
	poke_set_phase_hook(try_busy_site);
	int err = site_patch(s, variant_by_name(s, "b"));
	poke_set_phase_hook(NULL);
	report(err == 0, "the batch in flight completed");
	report(busy_err == -PATCH_EBUSY, "adding its site to another batch meanwhile: %s (expected PATCH_EBUSY)",
	       patch_errname(busy_err));
	report(tail_err == -PATCH_ETARGET_IN_SITE,
	       "a nop becoming a jmp into its tail meanwhile: %s (expected PATCH_ETARGET_IN_SITE)", patch_errname(tail_err));
	report(site_patch(s, variant_by_name(s, "a")) == 0, "patched back to a");
}
KTEST("patch.busy_site_refused", test_busy);

/* Compare-and-patch at apply time: a site changed after batch_add() makes
 * the whole batch refuse, and nothing of it is written. */
static void test_stale_old(void)
{
	POKE_BATCH_DEFINE(b, 2);
	const struct patch_site_def *call = site_by_name("call"), *nop2 = site_by_name("nop2");
	uint8_t a[5], bb[5], n2[2], j2[2];
	site_encode(call, variant_by_name(call, "a"), a);
	site_encode(call, variant_by_name(call, "b"), bb);
	site_encode(nop2, variant_by_name(nop2, "a"), n2);
	site_encode(nop2, variant_by_name(nop2, "b"), j2);

	report(smp_text_poke_batch_add(&b, (void *)call->addr, a, bb, 5) == 0, "call a -> b queued");
	report(smp_text_poke_batch_add(&b, (void *)nop2->addr, n2, j2, 2) == 0, "nop2 a -> b queued");
	report(site_patch(nop2, variant_by_name(nop2, "b")) == 0, "meanwhile nop2 was patched to b");
	uint64_t sum = text_sum();
	int err = smp_text_poke_batch_finish(&b);
	report(err == -PATCH_EOLD_MISMATCH, "applying the batch: %s (expected PATCH_EOLD_MISMATCH)", patch_errname(err));
	report(text_sum() == sum && !memcmp(call->addr, a, 5), "no byte of the batch was written (call still a)");
	smp_text_poke_batch_reset(&b);
	report(site_patch(nop2, variant_by_name(nop2, "a")) == 0, "nop2 patched back to a");
}
KTEST("patch.stale_old_bytes_refused_at_apply", test_stale_old);

/* A site's checks at batch_add() read boundaries another batch may move
 * before this one is applied: here a jmp queued to two_nops_site+1 (the
 * second nop, a boundary then), while a stop-machine-nmi batch makes the
 * two nops one 2-byte nop (two_nops_site+1 is now inside it). finish()
 * checks every site again (a batch was published since the adds) and
 * refuses the jmp, which would land mid-instruction; nothing is written. */
static void test_recheck_after_boundary_moved(void)
{
	POKE_BATCH_DEFINE(b, 1);
	static const uint8_t two[2] = { 0x90, 0x90 }, one[2] = { 0x66, 0x90 };
	uint8_t nop5[5], jmp[5];
	insn_nop(5, nop5);
	rel32_to(JMP32_INSN_OPCODE, flip_nop5_site, two_nops_site + 1, jmp);
	const struct patch_strategy *stop = patch_strategy_find("stop-machine-nmi");

	int err = smp_text_poke_batch_add(&b, (void *)flip_nop5_site, nop5, jmp, 5);
	report(err == 0, "jmp to two_nops_site+1 queued while it is a boundary: %s", patch_errname(err));
	err = smp_text_poke_one(stop, (void *)two_nops_site, two, one, 2);
	if (!report(err == 0, "meanwhile stop-machine-nmi made the two nops one: %s", patch_errname(err))) {
		smp_text_poke_batch_reset(&b);
		return;
	}
	uint64_t sum = text_sum();
	err = smp_text_poke_batch_finish(&b);
	report(err == -PATCH_ETARGET_MID_INSN, "applying the queued jmp: %s (expected PATCH_ETARGET_MID_INSN: %s)",
	       patch_errname(err), b.why);
	report(text_sum() == sum && !memcmp(flip_nop5_site, nop5, 5), "no byte of it was written");
	smp_text_poke_batch_reset(&b);
	report(smp_text_poke_one(stop, (void *)two_nops_site, one, two, 2) == 0, "two_nops_site back to two nops");
}
KTEST("patch.recheck_after_boundary_moved", test_recheck_after_boundary_moved);

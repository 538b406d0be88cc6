/*
 * tests/host/test_validate.c — patch/validate.c and patch/site_table.c on
 * the host, with Debian's libzydis, against byte arrays laid out as a small
 * fake .text. cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "patch/site_table.h"
#include "patch/validate.h"
#include "strategies/int3/int3_check.h"

/* Fake .text at BASE:
 *   f:    call g         e8 rel32       BASE+0x00 (5)
 *         nop; nop       90 90          BASE+0x05 (2 x 1)
 *         jz f           74 f7          BASE+0x07 (2)
 *         ret            c3             BASE+0x09
 *   g:    mov eax, 1     b8 01 00 00 00 BASE+0x10 (5)   <- "protected" function
 *         ret            c3             BASE+0x15
 *   h:    nop5           0f 1f 44 00 00 BASE+0x20
 *         ret            c3             BASE+0x25
 *   k:    nop5           0f 1f 44 00 00 BASE+0x30   <- early site
 *         mov eax, 1     b8 01 00 00 00 BASE+0x35
 *         nop5           0f 1f 44 00 00 BASE+0x3a   <- late site
 *         ret            c3             BASE+0x3f
 */
#define BASE 0x10000ul
static uint8_t text[0x40];
static uintptr_t busy_lo, busy_hi;
/* A batch "in flight": its sites show their old bytes through env.read,
 * while text[] holds whatever a patcher has written so far. */
static struct poke_site live[2];
static uint32_t live_nr;

static void read_view(const struct patch_env *env, uintptr_t a, uint8_t *buf, size_t n)
{
	(void)env;
	memcpy(buf, text + (a - BASE), n);
	sites_overlay_old(live, live_nr, a, buf, n);
}

/* The control: live text as it is, int3s and half-written tails included. */
static void read_raw(const struct patch_env *env, uintptr_t a, uint8_t *buf, size_t n)
{
	(void)env;
	memcpy(buf, text + (a - BASE), n);
}

static bool symbol(const struct patch_env *env, uintptr_t a, uintptr_t *start, uint64_t *size, const char **name)
{
	(void)env;
	static const struct { uintptr_t off, size; const char *name; } syms[] = {
		{ 0x00, 0x10, "f" }, { 0x10, 0x10, "g" }, { 0x20, 0x10, "h" }, { 0x30, 0x10, "k" },
	};
	for (unsigned i = 0; i < 4; i++)
		if (a >= BASE + syms[i].off && a < BASE + syms[i].off + syms[i].size) {
			*start = BASE + syms[i].off;
			*size = syms[i].size;
			*name = syms[i].name;
			return true;
		}
	return false;
}

static bool protected_code(const struct patch_env *env, uintptr_t a, size_t len, const char **what)
{
	(void)env;
	*what = "g";
	return a < BASE + 0x20 && a + len > BASE + 0x10;
}

static bool live_site(const struct patch_env *env, uintptr_t a, size_t len, uintptr_t *site, uint8_t *site_len)
{
	(void)env;
	if (a < busy_hi && a + len > busy_lo) {
		*site = busy_lo;
		*site_len = (uint8_t)(busy_hi - busy_lo);
		return true;
	}
	const struct poke_site *s = site_overlapping(live, live_nr, a, len);
	if (s) {
		*site = s->addr;
		*site_len = s->len;
	}
	return s != NULL;
}

static struct patch_env env = {
	.text_start = BASE, .text_end = BASE + sizeof(text),
	.read = read_view, .symbol = symbol, .protected_code = protected_code, .live_site = live_site,
};

/* The strategy's own check: the int3 strategy's, unless a test shows the
 * core without it. */
static patch_site_check_fn strategy_check = int3_check_site;

static int setup(void **state)
{
	(void)state;
	static const uint8_t img[] = {
		0xe8, 0x0b, 0x00, 0x00, 0x00, 0x90, 0x90, 0x74, 0xf7, 0xc3, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
		0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
		0x0f, 0x1f, 0x44, 0x00, 0x00, 0xc3, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
		0x0f, 0x1f, 0x44, 0x00, 0x00, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xc3,
	};
	memcpy(text, img, sizeof(text));
	busy_lo = busy_hi = 0;
	live_nr = 0;
	env.read = read_view;
	env.unchecked_targets = false;
	env.foreign_target = NULL;
	strategy_check = int3_check_site;
	return 0;
}

/* Validate one request as a member of a batch holding batch[0..nr). */
static int check_in(const struct poke_site *batch, uint32_t nr, uintptr_t addr, size_t len, const uint8_t *old,
		    const uint8_t *new, struct emu_insn *emu)
{
	struct poke_site s = { .addr = addr, .len = (uint8_t)len };
	char why[200];
	if (len <= POKE_MAX_LEN) {
		memcpy(s.old, old, len);
		memcpy(s.new, new, len);
	}
	int err = patch_validate_site(&env, strategy_check, &s, batch, nr, why, sizeof(why));
	if (err) {                              /* every refusal names the address */
		char at[32];
		snprintf(at, sizeof(at), "%#lx:", (unsigned long)addr);
		if (strncmp(why, at, strlen(at)))
			fail_msg("refusal '%s' does not start with the address %s", why, at);
	}
	if (emu)
		*emu = s.emu;
	return err;
}

static int check(uintptr_t addr, size_t len, const uint8_t *old, const uint8_t *new, struct emu_insn *emu)
{
	return check_in(NULL, 0, addr, len, old, new, emu);
}

static const uint8_t call_g[5] = { 0xe8, 0x0b, 0x00, 0x00, 0x00 };
static const uint8_t call_h[5] = { 0xe8, 0x1b, 0x00, 0x00, 0x00 };     /* BASE+5+0x1b = h */

static void valid_call_retarget(void **state)
{
	(void)state;
	struct emu_insn emu;
	assert_int_equal(check(BASE, 5, call_g, call_h, &emu), 0);
	assert_int_equal(emu.kind, EMU_CALL);
	assert_int_equal(emu.target, BASE + 0x20);
	assert_int_equal(emu.len, 5);
}

/* Multi-instruction sites: refused for a strategy without multi_insn,
 * accepted with it unless the new sequence branches, or calls before its
 * last instruction. Site: k's first 10 bytes (nop5; mov $1, %eax). */
static int check_multi(bool multi_ok, const uint8_t *new, uint8_t *insns)
{
	struct poke_site s = { .addr = BASE + 0x30, .len = 10 };
	char why[200];
	memcpy(s.old, text + 0x30, 10);
	memcpy(s.new, new, 10);
	int err = patch_validate_site_multi(&env, strategy_check, multi_ok, &s, NULL, 0, why, sizeof(why));
	*insns = s.insns;
	return err;
}

static void multi_instruction_sites(void **state)
{
	(void)state;
	uint8_t n;
	static const uint8_t swapped[10] = { 0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	static const uint8_t call_first[10] = { 0xe8, 0xeb, 0xff, 0xff, 0xff, 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	static const uint8_t call_last[10] = { 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xe8, 0xe6, 0xff, 0xff, 0xff };
	static const uint8_t call_mid_fn[10] = { 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xe8, 0xe7, 0xff, 0xff, 0xff };
	static const uint8_t jmp_last[10] = { 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xe9, 0xe6, 0xff, 0xff, 0xff };
	static const uint8_t torn_tail[10] = { 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x0f, 0x1f, 0x80, 0x00, 0x00 };
	assert_int_equal(check_multi(false, swapped, &n), -PATCH_EMULTI_INSN);
	assert_int_equal(check_multi(true, swapped, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(check_multi(true, call_first, &n), -PATCH_EMULTI_CALL_NOT_LAST);
	assert_int_equal(check_multi(true, call_last, &n), 0);                  /* to h, a function's start */
	assert_int_equal(check_multi(true, call_mid_fn, &n), -PATCH_EBRANCH_UNCHECKED);
	assert_int_equal(check_multi(true, jmp_last, &n), 0);                   /* jmp rel32 to h's start, last */
	static const uint8_t jmp_mid_fn[10] = { 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xe9, 0xe7, 0xff, 0xff, 0xff };
	static const uint8_t jmp_first[10] = { 0xe9, 0xeb, 0xff, 0xff, 0xff, 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	static const uint8_t jmp8_last[10] = { 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x0f, 0x1f, 0x00, 0xeb, 0xe4 };
	assert_int_equal(check_multi(true, jmp_mid_fn, &n), -PATCH_EBRANCH_UNCHECKED);    /* to h+1 */
	assert_int_equal(check_multi(true, jmp_first, &n), -PATCH_EBRANCH_UNCHECKED);     /* not last */
	assert_int_equal(check_multi(true, jmp8_last, &n), -PATCH_EBRANCH_UNCHECKED);     /* a jmp rel8 */
	assert_int_equal(check_multi(true, torn_tail, &n), -PATCH_ENEW_LENGTH);    /* not whole instructions */
	/* the last jmp rel32 goes where a single jmp may: not into the
	 * no-patch region (g's start, a function start all the same) */
	static const uint8_t jmp_protected[10] = { 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xe9, 0xd6, 0xff, 0xff, 0xff };
	assert_int_equal(check_multi(true, jmp_protected, &n), -PATCH_ETARGET_PROTECTED);  /* to g */
}

/* A multi-instruction site ending with a jmp rel32 is a function's entry
 * replaced (a livepatch over its prologue): it must start at a function's
 * start. Here k+5 (mov $1, %eax; nop5), its new bytes nop5; jmp h. */
static void multi_jmp_only_at_function_start(void **state)
{
	(void)state;
	struct poke_site s = { .addr = BASE + 0x35, .len = 10 };
	char why[200];
	memcpy(s.old, text + 0x35, 10);
	static const uint8_t nop5_jmp_h[10] = { 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xe9, 0xe1, 0xff, 0xff, 0xff };
	memcpy(s.new, nop5_jmp_h, 10);
	assert_int_equal(patch_validate_site_multi(&env, strategy_check, true, &s, NULL, 0, why, sizeof(why)),
			 -PATCH_EBRANCH_UNCHECKED);
	assert_non_null(strstr(why, "start"));
}

/* The same at any site: old bytes old (the current text), new bytes new. */
static int check_multi_at(uintptr_t addr, size_t len, const uint8_t *new)
{
	struct poke_site s = { .addr = addr, .len = (uint8_t)len };
	char why[200];
	memcpy(s.old, text + (addr - BASE), len);
	memcpy(s.new, new, len);
	return patch_validate_site_multi(&env, strategy_check, true, &s, NULL, 0, why, sizeof(why));
}

/* The old sequence is checked too: a call in it must be last (a CPU in the
 * callee returns to the byte after it), and a sequence whose old last
 * instruction did not fall through (ret) may not be replaced by one that
 * does at the function's end. */
static void multi_old_sequence_rules(void **state)
{
	(void)state;
	/* f+0: call g; nop; nop -> nop5; xchg %ax,%ax */
	static const uint8_t nops7[7] = { 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x66, 0x90 };
	assert_int_equal(check_multi_at(BASE, 7, nops7), -PATCH_EMULTI_CALL_NOT_LAST);
	/* k+0xa: nop5; ret (k's last byte) -> mov $2, %eax; nop */
	static const uint8_t mov_nop[6] = { 0xb8, 0x02, 0x00, 0x00, 0x00, 0x90 };
	assert_int_equal(check_multi_at(BASE + 0x3a, 6, mov_nop), -PATCH_EFALLS_OFF_END);
}

/* A privileged instruction in a new sequence: refused as the single path's
 * strategy check refuses it (PATCH_EBRANCH_UNCHECKED). */
static void multi_new_system_insns(void **state)
{
	(void)state;
	uint8_t n;
	static const uint8_t seqs[][10] = {
		{ 0xf4, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x0f, 0x1f, 0x40, 0x00 },   /* hlt; nop5; nop4 */
		{ 0x0f, 0x22, 0xd8, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x66, 0x90 },   /* mov %rax,%cr3; nop5; nop2 */
		{ 0x0f, 0x30, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x0f, 0x1f, 0x00 },   /* wrmsr; nop5; nop3 */
		{ 0x0f, 0x01, 0x18, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x66, 0x90 },   /* lidt (%rax); nop5; nop2 */
		{ 0x0f, 0x01, 0xf8, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x66, 0x90 },   /* swapgs; nop5; nop2 */
	};
	for (unsigned i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
		assert_int_equal(check_multi(true, seqs[i], &n), -PATCH_EBRANCH_UNCHECKED);
}

/* A relative branch elsewhere in the function that lands inside the site:
 * refused (after the rewrite it may land mid-instruction); one landing on
 * its first byte is fine. */
static void multi_branch_into_site(void **state)
{
	(void)state;
	uint8_t n;
	static const uint8_t swapped[10] = { 0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	static const uint8_t jmp_k5[5] = { 0xeb, 0xf9, 0x0f, 0x1f, 0x00 };     /* k+0xa: jmp k+5; nop3 */
	static const uint8_t jmp_k0[5] = { 0xeb, 0xf4, 0x0f, 0x1f, 0x00 };     /* k+0xa: jmp k+0; nop3 */
	memcpy(text + 0x3a, jmp_k5, 5);
	assert_int_equal(check_multi(true, swapped, &n), -PATCH_EBRANCH_INTO_SEQ);
	memcpy(text + 0x3a, jmp_k0, 5);
	assert_int_equal(check_multi(true, swapped, &n), 0);
}

/* A REP string op first in the old sequence: a CPU at the site's start
 * may be between its iterations, so the site is start_inside, unless the
 * new bytes begin with the same instruction. */
static void multi_rep_at_start(void **state)
{
	(void)state;
	static const uint8_t old[10] = { 0xf3, 0x48, 0xa5, 0x89, 0xd1, 0xf3, 0xa4, 0x0f, 0x1f, 0x00 };
	/* rep movsq; mov %edx,%ecx; rep movsb; nop3 */
	static const uint8_t reload[10] = { 0x4c, 0x89, 0xc1, 0xf3, 0xa4, 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	/* mov %r8,%rcx; rep movsb; nop5 */
	static const uint8_t same_first[10] = { 0xf3, 0x48, 0xa5, 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 };
	/* rep movsq; nop7 */
	memcpy(text + 0x30, old, 10);
	struct poke_site s = { .addr = BASE + 0x30, .len = 10 };
	char why[200];
	memcpy(s.old, old, 10);
	memcpy(s.new, reload, 10);
	assert_int_equal(patch_validate_site_multi(&env, strategy_check, true, &s, NULL, 0, why, sizeof(why)), 0);
	assert_true(s.start_inside);
	memcpy(s.new, same_first, 10);
	s.start_inside = false;
	assert_int_equal(patch_validate_site_multi(&env, strategy_check, true, &s, NULL, 0, why, sizeof(why)), 0);
	assert_false(s.start_inside);
	/* and a site without a REP first: never */
	uint8_t n;
	static const uint8_t swapped[10] = { 0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	memcpy(text + 0x30, (const uint8_t[]){ 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xb8, 0x01, 0x00, 0x00, 0x00 }, 10);
	assert_int_equal(check_multi(true, swapped, &n), 0);
}

static void each_refusal_has_its_code(void **state)
{
	(void)state;
	uint8_t cur[16];
	memcpy(cur, text, 16);
	static const uint8_t nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 }, nop2[2] = { 0x66, 0x90 };
	static const uint8_t mov5[5] = { 0xb8, 0x01, 0x00, 0x00, 0x00 }, nops5[5] = { 0x90, 0x90, 0x90, 0x90, 0x90 };
	static const uint8_t bad2[2] = { 0x06, 0x06 }, call2[2] = { 0xe8, 0x00 };
	static const uint8_t call_out[5] = { 0xe8, 0x00, 0x00, 0x10, 0x00 };

	assert_int_equal(check(BASE, 0, cur, nop5, NULL), -PATCH_ELEN_ZERO);
	assert_int_equal(check(BASE, 16, cur, nop5, NULL), -PATCH_ELEN_TOO_LONG);
	assert_int_equal(check(BASE - 1, 1, cur, nop5, NULL), -PATCH_EOUTSIDE_TEXT);
	assert_int_equal(check(BASE + sizeof(text) - 2, 5, cur, nop5, NULL), -PATCH_ESTRADDLES_TEXT_END);
	assert_int_equal(check(BASE + 0x10, 5, text + 0x10, nop5, NULL), -PATCH_EPROTECTED);
	assert_int_equal(check(BASE + 1, 1, cur + 1, nop5, NULL), -PATCH_EMID_INSN);
	assert_int_equal(check(BASE, 5, nops5, nop5, NULL), -PATCH_EOLD_MISMATCH);
	assert_int_equal(check(BASE, 2, cur, nop2, NULL), -PATCH_EOLD_LENGTH);
	assert_int_equal(check(BASE + 5, 2, cur + 5, nop2, NULL), -PATCH_EMULTI_INSN);
	assert_int_equal(check(BASE + 0x20, 2, text + 0x20, bad2, NULL), -PATCH_EOLD_LENGTH);
	assert_int_equal(check(BASE + 7, 2, cur + 7, bad2, NULL), -PATCH_ENEW_UNDECODABLE);
	assert_int_equal(check(BASE + 7, 2, cur + 7, call2, NULL), -PATCH_ENEW_LENGTH);
	assert_int_equal(check(BASE, 5, cur, nops5, NULL), -PATCH_EMULTI_INSN);
	assert_int_equal(check(BASE, 5, cur, mov5, NULL), -PATCH_ENOT_EMULATABLE);
	strategy_check = NULL;          /* the refusal is the int3 strategy's, not the core's */
	assert_int_equal(check(BASE, 5, cur, mov5, NULL), 0);
	strategy_check = int3_check_site;
	assert_int_equal(check(BASE, 5, cur, call_out, NULL), -PATCH_ETARGET_OUTSIDE_TEXT);
	busy_lo = BASE + 2;
	busy_hi = BASE + 3;
	assert_int_equal(check(BASE, 5, cur, nop5, NULL), -PATCH_EBUSY);
	busy_lo = busy_hi = 0;
	static const uint8_t h_call_f[5] = { 0xe8, 0xdb, 0xff, 0xff, 0xff };  /* at h: call f */
	assert_int_equal(check(BASE + 0x20, 5, text + 0x20, h_call_f, NULL), 0);  /* nop5 -> call, fine */
}

/* rel32 from a site of len bytes at `at` to `to` */
static void rel32(uint8_t *insn, uint8_t op, uintptr_t at, unsigned len, uintptr_t to)
{
	int32_t r = (int32_t)(to - (at + len));
	insn[0] = op;
	memcpy(insn + len - 4, &r, 4);
}

/* A registered region outside .text (a livepatch payload's text, as
 * patch/exec_regions.h registers it): [REGION, REGION+0x100), functions
 * at its offsets 0x00 and 0x40. */
#define REGION 0x80000ul
static bool region_lookup(const struct patch_env *e, uintptr_t a, bool *is_fn_start, const char **name)
{
	(void)e;
	if (a < REGION || a >= REGION + 0x100)
		return false;
	*is_fn_start = a == REGION || a == REGION + 0x40;
	*name = "payload 'demo'";
	return true;
}

/* A jmp or call out of .text: refused, unless onto a function start of a
 * registered region; inside a region but not at a function start:
 * PATCH_ETARGET_MID_INSN, naming the region. */
static void targets_in_exec_regions(void **state)
{
	(void)state;
	uint8_t jmp[5], call[5];
	char why[200];
	const uint8_t *cur = text + 0x20;       /* h's nop5 */

	rel32(jmp, 0xe9, BASE + 0x20, 5, REGION + 0x40);
	assert_int_equal(check(BASE + 0x20, 5, cur, jmp, NULL), -PATCH_ETARGET_OUTSIDE_TEXT);  /* no regions */
	env.foreign_target = region_lookup;
	assert_int_equal(check(BASE + 0x20, 5, cur, jmp, NULL), 0);
	rel32(call, 0xe8, BASE + 0x20, 5, REGION);
	assert_int_equal(check(BASE + 0x20, 5, cur, call, NULL), 0);
	rel32(jmp, 0xe9, BASE + 0x20, 5, REGION + 0x41);
	assert_int_equal(check(BASE + 0x20, 5, cur, jmp, NULL), -PATCH_ETARGET_MID_INSN);
	struct poke_site s = { .addr = BASE + 0x20, .len = 5 };
	memcpy(s.old, cur, 5);
	memcpy(s.new, jmp, 5);
	assert_int_equal(patch_validate_site(&env, strategy_check, &s, NULL, 0, why, sizeof(why)),
			 -PATCH_ETARGET_MID_INSN);
	assert_non_null(strstr(why, "payload 'demo'"));
	rel32(jmp, 0xe9, BASE + 0x20, 5, REGION + 0x100);       /* just past it: outside any region */
	assert_int_equal(check(BASE + 0x20, 5, cur, jmp, NULL), -PATCH_ETARGET_OUTSIDE_TEXT);
	/* the last jmp of a multi-instruction site (stop-machine-nmi over a
	 * prologue): onto a region's function start only */
	uint8_t seq[10] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 }, n;
	rel32(seq + 5, 0xe9, BASE + 0x35, 5, REGION + 0x40);
	assert_int_equal(check_multi(true, seq, &n), 0);
	rel32(seq + 5, 0xe9, BASE + 0x35, 5, REGION + 0x41);
	assert_int_equal(check_multi(true, seq, &n), -PATCH_EBRANCH_UNCHECKED);
	env.foreign_target = NULL;
	rel32(seq + 5, 0xe9, BASE + 0x35, 5, REGION + 0x40);
	assert_int_equal(check_multi(true, seq, &n), -PATCH_EBRANCH_UNCHECKED);
}

/* Where a new branch may land: every refusal has its own code. */
static void branch_target_refusals(void **state)
{
	(void)state;
	uintptr_t h = BASE + 0x20, f = BASE;
	uint8_t nop5[5], ins[5];
	memcpy(nop5, text + 0x20, 5);
#define AT_H(op, to) (rel32(ins, (op), h, 5, (to)), check(h, 5, nop5, ins, NULL))
	/* jmp into the middle of f's call */
	assert_int_equal(AT_H(0xe9, f + 1), -PATCH_ETARGET_MID_INSN);
	/* jmp into the middle of k's mov */
	assert_int_equal(AT_H(0xe9, BASE + 0x37), -PATCH_ETARGET_MID_INSN);
	/* jmp into the no-patch region (g) */
	assert_int_equal(AT_H(0xe9, BASE + 0x10), -PATCH_ETARGET_PROTECTED);
	/* call g: a function start, but in the no-patch region */
	assert_int_equal(AT_H(0xe8, BASE + 0x10), -PATCH_ETARGET_PROTECTED);
	/* call to an instruction boundary that is not a function's start */
	assert_int_equal(AT_H(0xe8, f + 5), -PATCH_ECALL_NOT_FUNCTION);
	/* jmp there is fine */
	assert_int_equal(AT_H(0xe9, f + 5), 0);
	/* jmp into this very site's own tail */
	assert_int_equal(AT_H(0xe9, h + 2), -PATCH_ETARGET_IN_SITE);
	/* jmp onto this very site (a loop) is a boundary: fine */
	assert_int_equal(AT_H(0xe9, h), 0);
	/* jmp into the middle of f's jz */
	assert_int_equal(AT_H(0xe9, f + 8), -PATCH_ETARGET_MID_INSN);
	/* jcc rel8 into the middle of h's long nop */
	uint8_t jz_h1[2] = { 0x74, (uint8_t)(h + 1 - (f + 9)) };
	assert_int_equal(check(f + 7, 2, text + 7, jz_h1, NULL), -PATCH_ETARGET_MID_INSN);
	/* into the tail of a site of a batch in flight (f's call) */
	live[0] = (struct poke_site){ .addr = f, .len = 5 };
	memcpy(live[0].old, text, 5);
	live_nr = 1;
	assert_int_equal(AT_H(0xe9, f + 2), -PATCH_ETARGET_IN_SITE);
	assert_int_equal(AT_H(0xe9, f), 0);         /* its first byte: guarded by the int3 */
	live_nr = 0;
	/* into the tail of a site of this batch: the torn target */
	struct poke_site batch[1] = { { .addr = f, .len = 5 } };
	memcpy(batch[0].old, text, 5);
	rel32(batch[0].new, 0xe8, f, 5, BASE + 0x30);      /* call k */
	rel32(ins, 0xe9, h, 5, f + 2);
	assert_int_equal(check_in(batch, 1, h, 5, nop5, ins, NULL), -PATCH_ETARGET_IN_SITE);
	/* and the other way round: a site of the batch already branches into
	 * the tail of the one being added */
	struct poke_site first[1] = { { .addr = h, .len = 5, .emu = { .kind = EMU_JMP, .len = 5, .target = f + 2 } } };
	uint8_t call_k[5];
	rel32(call_k, 0xe8, f, 5, BASE + 0x30);
	assert_int_equal(check_in(first, 1, f, 5, text, call_k, NULL), -PATCH_ETARGET_IN_SITE);
	/* no function contains the target: the image has none past k */
	env.text_end = BASE + sizeof(text) + 0x10;
	assert_int_equal(AT_H(0xe9, BASE + sizeof(text) + 4), -PATCH_ETARGET_NO_FUNCTION);
	env.text_end = BASE + sizeof(text);
	/* an int $3 as the old instruction: refused (see patch/trap.c) */
	text[0x3a] = 0xcd;
	text[0x3b] = 0x03;
	text[0x3c] = 0x90;
	text[0x3d] = 0x90;
	text[0x3e] = 0x90;
	static const uint8_t int_3[2] = { 0xcd, 0x03 }, nop2[2] = { 0x66, 0x90 };
	assert_int_equal(check(BASE + 0x3a, 2, int_3, nop2, NULL), -PATCH_EOLD_INT3);
	/* a ret becoming a nop at the very end of its function (k ends at 0x40) */
	static const uint8_t ret[1] = { 0xc3 }, nop[1] = { 0x90 };
	assert_int_equal(check(BASE + 0x3f, 1, ret, nop, NULL), -PATCH_EFALLS_OFF_END);
	assert_int_equal(check(BASE + 0x3f, 1, ret, ret, NULL), 0);         /* still a ret: fine */
	assert_int_equal(check(f + 9, 1, ret, nop, NULL), 0);               /* f goes on: its padding */
	/* with the checks off (patch.unsafe_targets=1), the torn target goes through */
	env.unchecked_targets = true;
	rel32(ins, 0xe9, h, 5, f + 2);
	assert_int_equal(check_in(batch, 1, h, 5, nop5, ins, NULL), 0);
	assert_int_equal(AT_H(0xe9, f + 1), 0);
#undef AT_H
}

/* Validation reads text through the view: a batch in flight earlier in the
 * same function (int3 written, tail half-written) does not desynchronize
 * the decoder. The control, reading raw text, does. */
static void view_hides_batch_in_flight(void **state)
{
	(void)state;
	uintptr_t early = BASE + 0x30, late = BASE + 0x3a;
	uint8_t call_f[5], nop5[5], jmp_f[5], mid[1] = { 0x01 };
	memcpy(nop5, text + 0x3a, 5);
	rel32(call_f, 0xe8, early, 5, BASE);
	rel32(jmp_f, 0xe9, late, 5, BASE);
	live[0] = (struct poke_site){ .addr = early, .len = 5 };
	memcpy(live[0].old, text + 0x30, 5);
	memcpy(live[0].new, call_f, 5);
	live_nr = 1;
	text[0x30] = 0xcc;                                  /* int3 written */
	assert_int_equal(check(late, 5, nop5, jmp_f, NULL), 0);
	env.read = read_raw;
	assert_int_equal(check(late, 5, nop5, jmp_f, NULL), -PATCH_EMID_INSN);      /* cc 1f ...: lost */
	env.read = read_view;
	memcpy(text + 0x31, call_f + 1, 2);                 /* and half the tail */
	assert_int_equal(check(late, 5, nop5, jmp_f, NULL), 0);
	assert_int_equal(check(BASE + 0x36, 1, mid, mid, NULL), -PATCH_EMID_INSN);  /* inside the mov */
	assert_int_equal(check(early, 5, live[0].old, jmp_f, NULL), -PATCH_EBUSY);
}

static void not_emulatable_instructions(void **state)
{
	(void)state;
	static const struct { const char *what; uint8_t len, b[6]; } bad[] = {
		{ "call [rax]", 2, { 0xff, 0x10 } },
		{ "jmp rax", 2, { 0xff, 0xe0 } },
		{ "jrcxz", 2, { 0xe3, 0x00 } },
		{ "loop", 2, { 0xe2, 0x00 } },
		{ "ret imm16", 3, { 0xc2, 0x08, 0x00 } },
		{ "int3", 1, { 0xcc } },
		{ "prefixed call", 6, { 0x2e, 0xe8, 0x00, 0x00, 0x00, 0x00 } },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct poke_site site = { .addr = BASE, .len = bad[i].len };
		int err = patch_decode_new(BASE, bad[i].b, bad[i].len, &site.emu, NULL, 0);
		if (!err && site.emu.kind != EMU_OTHER)
			fail_msg("%s: decoded as control-flow kind %u, expected EMU_OTHER", bad[i].what, site.emu.kind);
		if (!err)
			err = int3_check_site(&site, NULL, 0);
		if (err != -PATCH_ENOT_EMULATABLE)
			fail_msg("%s: %s, expected PATCH_ENOT_EMULATABLE", bad[i].what, patch_errname(err));
	}
}

static void emulation_of_each_kind(void **state)
{
	(void)state;
	struct emu_insn emu;
	static const uint8_t nops[10][9] = {
		[1] = { 0x90 }, [2] = { 0x66, 0x90 }, [3] = { 0x0f, 0x1f, 0x00 }, [4] = { 0x0f, 0x1f, 0x40, 0x00 },
		[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 }, [6] = { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
		[7] = { 0x0f, 0x1f, 0x80, 0, 0, 0, 0 }, [8] = { 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 },
		[9] = { 0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 },
	};
	for (unsigned n = 1; n <= 9; n++) {
		assert_int_equal(patch_decode_new(BASE, nops[n], n, &emu, NULL, 0), 0);
		assert_int_equal(emu.kind, EMU_NOP);
		assert_int_equal(emu.len, n);
	}
	static const uint8_t nop_other[4] = { 0x66, 0x66, 0x66, 0x90 };      /* a multi-prefix nop */
	assert_int_equal(patch_decode_new(BASE, nop_other, 4, &emu, NULL, 0), 0);
	assert_int_equal(emu.kind, EMU_NOP);

	static const uint8_t jmp8[2] = { 0xeb, 0x10 }, jmp32[5] = { 0xe9, 0x00, 0x01, 0x00, 0x00 }, ret[1] = { 0xc3 };
	assert_int_equal(patch_decode_new(BASE, jmp8, 2, &emu, NULL, 0), 0);
	assert_true(emu.kind == EMU_JMP && emu.target == BASE + 2 + 0x10);
	assert_int_equal(patch_decode_new(BASE, jmp32, 5, &emu, NULL, 0), 0);
	assert_true(emu.kind == EMU_JMP && emu.target == BASE + 5 + 0x100);
	assert_int_equal(patch_decode_new(BASE, ret, 1, &emu, NULL, 0), 0);
	assert_int_equal(emu.kind, EMU_RET);
	for (unsigned cc = 0; cc < 16; cc++) {
		uint8_t j8[2] = { (uint8_t)(0x70 | cc), 0xfe }, j32[6] = { 0x0f, (uint8_t)(0x80 | cc), 0x10, 0, 0, 0 };
		assert_int_equal(patch_decode_new(BASE, j8, 2, &emu, NULL, 0), 0);
		assert_true(emu.kind == EMU_JCC && emu.cc == cc && emu.target == BASE);
		assert_int_equal(patch_decode_new(BASE, j32, 6, &emu, NULL, 0), 0);
		assert_true(emu.kind == EMU_JCC && emu.cc == cc && emu.target == BASE + 6 + 0x10);
	}
}

static void sort_search_overlap(void **state)
{
	(void)state;
	struct poke_site s[64];
	for (unsigned i = 0; i < 64; i++)
		s[i] = (struct poke_site){ .addr = 0x1000 + ((i * 37) % 64) * 8, .len = 5 };
	sites_sort(s, 64);
	for (unsigned i = 1; i < 64; i++)
		assert_true(s[i - 1].addr < s[i].addr);
	for (unsigned i = 0; i < 64; i++) {
		const struct poke_site *f = site_find(s, 64, 0x1000 + i * 8);
		assert_non_null(f);
		assert_int_equal(f->addr, 0x1000 + i * 8);
		assert_null(site_find(s, 64, 0x1000 + i * 8 + 1));
	}
	assert_null(site_find(s, 0, 0x1000));
	/* No site overlaps those before it (the search the #BP handler and
	 * the validator's view use) ... */
	for (unsigned i = 0; i < 64; i++)
		assert_null(site_overlapping(s, i, s[i].addr, s[i].len));
	s[10].len = 9;                                  /* 0x1050 + 9 > 0x1058 */
	/* ... until site 10 runs into site 11: the first overlap found is
	 * site 11's, with site 10. */
	for (unsigned i = 0; i < 11; i++)
		assert_null(site_overlapping(s, i, s[i].addr, s[i].len));
	assert_ptr_equal(site_overlapping(s, 11, s[11].addr, s[11].len), &s[10]);
}

static void error_names(void **state)
{
	(void)state;
	for (int e = PATCH_ELEN_ZERO; e < PATCH_ERR_END; e++) {
		assert_non_null(strstr(patch_errname(-e), "PATCH_E"));
		assert_string_not_equal(patch_strerror(e), "unknown patch error");
		for (int f = PATCH_ELEN_ZERO; f < e; f++)
			assert_string_not_equal(patch_errname(e), patch_errname(f));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(valid_call_retarget, setup),
		cmocka_unit_test_setup(each_refusal_has_its_code, setup),
		cmocka_unit_test_setup(multi_instruction_sites, setup),
		cmocka_unit_test_setup(multi_old_sequence_rules, setup),
		cmocka_unit_test_setup(multi_new_system_insns, setup),
		cmocka_unit_test_setup(multi_branch_into_site, setup),
		cmocka_unit_test_setup(multi_rep_at_start, setup),
		cmocka_unit_test_setup(branch_target_refusals, setup),
		cmocka_unit_test_setup(view_hides_batch_in_flight, setup),
		cmocka_unit_test_setup(not_emulatable_instructions, setup),
		cmocka_unit_test_setup(emulation_of_each_kind, setup),
		cmocka_unit_test_setup(sort_search_overlap, setup),
		cmocka_unit_test_setup(error_names, setup),
		cmocka_unit_test_setup(targets_in_exec_regions, setup),
		cmocka_unit_test_setup(multi_jmp_only_at_function_start, setup),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	int total = (int)(sizeof(tests) / sizeof(tests[0]));
	printf("RESULT passed=%d failed=%d\n", total - failed, failed);
	return failed ? 1 : 0;
}

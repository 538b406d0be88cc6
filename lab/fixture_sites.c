/*
 * lab/fixture_sites.c — the named sites of fixture_sites_code.asm and their
 * variants (the first variant is what the assembly holds at boot).
 */
#include "clients/sites/sites.h"
#include "arch/x86/cpu.h"
#include "kernel/string.h"
#include "lab/fixture_sites.h"
#include "patch/patch.h"

#define CC_Z  4
#define CC_NZ 5

PATCH_SITE(call, "call rel32, target a <-> b", flip_call_site, 5,
	   V_CALL("a", flip_ret_a), V_CALL("b", flip_ret_b));
PATCH_SITE(jmp8, "jmp rel8, target a <-> b", flip_jmp8_site, 2,
	   V_JMP8("a", flip_jmp8_a), V_JMP8("b", flip_jmp8_b));
PATCH_SITE(jmp32, "jmp rel32, target a <-> b", flip_jmp32_site, 5,
	   V_JMP32("a", flip_jmp32_a), V_JMP32("b", flip_jmp32_b));
PATCH_SITE(jcc8, "jcc rel8 with ZF=1: jz (taken, a) <-> jnz (falls to b)", flip_jcc8_site, 2,
	   V_JCC8("a", CC_Z, flip_jcc8_a), V_JCC8("b", CC_NZ, flip_jcc8_a));
PATCH_SITE(jcc32, "jcc rel32 with ZF=1: jz near a <-> jz near b", flip_jcc32_site, 6,
	   V_JCC32("a", CC_Z, flip_jcc32_a), V_JCC32("b", CC_Z, flip_jcc32_b));
PATCH_SITE(nop2, "2-byte nop (a) <-> jmp rel8 to b", flip_nop2_site, 2,
	   V_NOP("a", 2), V_JMP8("b", flip_nop2_b));
PATCH_SITE(nop5, "5-byte nop (a) <-> call to b", flip_nop5_site, 5,
	   V_NOP("a", 5), V_CALL("b", flip_set_b));
PATCH_SITE(ret, "ret (a) <-> 1-byte nop falling through to b", flip_ret_site, 1,
	   V_RET("a"), V_NOP("b", 1));

uint64_t batch_sites_flip(struct poke_batch *b, const struct patch_strategy *st, unsigned n, int *err)
{
	int e = 0;
	b->strategy = st;
	for (unsigned i = 0; i < n && !e; i++) {
		uintptr_t at = (uintptr_t)batch_fns[i];
		uint8_t a[CALL_INSN_SIZE], c[CALL_INSN_SIZE];
		insn_call(at, (uintptr_t)batch_ret_a, a);
		insn_call(at, (uintptr_t)batch_ret_b, c);
		bool is_a = !memcmp((const void *)at, a, CALL_INSN_SIZE);
		e = smp_text_poke_batch_add(b, (void *)at, is_a ? a : c, is_a ? c : a, CALL_INSN_SIZE);
	}
	uint64_t t0 = rdtsc(), took = 0;
	if (e)
		smp_text_poke_batch_reset(b);
	else if (!(e = smp_text_poke_batch_finish(b)))
		took = rdtsc() - t0;
	if (err)
		*err = e;
	return took;
}

/*
 * lab/ool_sites.h — sites that only a strategy running copies out of line
 * (strategies/ool/) can patch while other CPUs run them: a mov $imm, a
 * cmp, a RIP-relative lea and load, a call and an indirect call whose
 * callees record the return address they were given, a jmp rel8, a jcc
 * rel8, a long rep stosb; and a function of instructions no strategy runs
 * out of line, for the refusals. The code is lab/ool_sites_code.asm; the
 * values reach it through asm-offsets.inc.
 */
#ifndef XPOKE_LAB_OOL_SITES_H
#define XPOKE_LAB_OOL_SITES_H

#include <stdbool.h>
#include <stdint.h>

/* What each site's variant a / b computes (the assembly holds a). */
#define OOL_MOV_A   0x6d6f7661u         /* mov eax, imm32 */
#define OOL_MOV_B   0x6d6f7662u
#define OOL_CMP_A   0x11                /* cmp edi, imm32: eax = (edi == imm) */
#define OOL_CMP_B   0x22
#define OOL_DATA_A  0xda7aaaaau         /* lea rax, [rip+ool_data_a] / mov eax, [rip+ool_data_a] */
#define OOL_DATA_B  0xda7abbbbu
#define OOL_CALLEE_A 0xca11a            /* call ool_callee_a; call [rip+ool_ptr_a] */
#define OOL_CALLEE_B 0xca11b
#define OOL_JMP_A   0x1a                /* jmp short to ool_jmp_a */
#define OOL_JMP_B   0x1b
#define OOL_JCC_TAKEN    0x7a           /* test edi, edi; jz (a) / jnz (b) short to the taken path */
#define OOL_JCC_FALLEN   0xfa
#define OOL_REP_BYTE 0x5e               /* rep lodsb (a) / rep stosb (b) of this byte */

/* One fixture: its site, its two variants' bytes, what running it gives. */
struct ool_fixture {
	const char *kind;
	const char *site;                       /* where the site is */
	uint8_t len;
	uint64_t arg;                           /* the argument run() passes */
	bool records_return;                    /* the callee records its return address */
	uint64_t (*run)(uint64_t arg);          /* call the function, return its rax */
	/* The bytes of variant v (0 = a, 1 = b) at the site, and what run()
	 * gives with that variant in place. */
	void (*encode)(const struct ool_fixture *f, int v, uint8_t *out);
	uint64_t (*expect)(const struct ool_fixture *f, int v);
};

extern const struct ool_fixture ool_fixtures[];
extern const unsigned ool_nr_fixtures;
const struct ool_fixture *ool_fixture_by_kind(const char *kind);

/* The return address the callee last saw on each CPU. */
extern uint64_t ool_seen_ret[];

/* The lea site, for a request beyond the slot area's reach. */
extern const char ool_lea_site[];

/* The rep site: read count bytes at buf (variant a, rep lodsb), or fill
 * them with OOL_REP_BYTE (variant b, rep stosb). */
extern const char ool_rep_site[];
void ool_rep_fn(uint8_t *buf, uint64_t count);

/* Never run: instructions to refuse (lab/ool_sites_code.asm). A 1-, a 2-
 * and a 3-byte nop, then ud2 (an old instruction no copy can stand for). */
extern const char ool_refuse_nop1[], ool_refuse_nop2[], ool_refuse_nop3[], ool_refuse_ud2[];

#endif

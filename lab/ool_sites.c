/*
 * lab/ool_sites.c — the fixtures of ool_sites_code.asm: for each kind of
 * site, the bytes of its two variants (variant a is what the assembly
 * holds at boot) and what running its function gives with each.
 */
#include "arch/x86/layout.h"
#include "kernel/string.h"
#include "lab/ool_sites.h"
#include "patch/patch.h"

uint64_t ool_seen_ret[MAX_CPUS];

uint32_t ool_mov_fn(void);
uint32_t ool_cmp_fn(uint32_t x);
uint64_t ool_lea_fn(void);
uint32_t ool_load_fn(void);
uint32_t ool_call_fn(void);
uint32_t ool_icall_fn(void);
uint32_t ool_jmp_fn(void);
uint32_t ool_jcc_fn(uint32_t x);
extern const char ool_mov_site[], ool_cmp_site[], ool_lea_site[], ool_load_site[], ool_call_site[];
extern const char ool_icall_site[], ool_jmp_site[], ool_jcc_site[], ool_jmp_a[], ool_jmp_b[], ool_jcc_taken[];
extern const char ool_callee_a[], ool_callee_b[];
extern const uint32_t ool_data_a, ool_data_b;
extern uint64_t (*const ool_ptr_a)(void), (*const ool_ptr_b)(void);

#define REX_W       0x48
#define LEA_OPCODE  0x8d
#define MOV_LOAD    0x8b
#define MODRM_RIP_EAX 0x05              /* mod 00, reg eax/rax, rm 101: [rip+disp32] */
#define CMP_IMM32   0x81
#define MODRM_CMP_EDI 0xff              /* 81 /7, rm edi */
#define CC_Z        4
#define CC_NZ       5

static void put_disp32(uint8_t *out, uintptr_t at, unsigned len, uintptr_t target)
{
	int32_t d = (int32_t)(int64_t)(target - (at + len));
	memcpy(out + len - 4, &d, 4);
}

static void put_imm32(uint8_t *out, uint32_t v)
{
	memcpy(out, &v, 4);
}

static uint64_t run_mov(uint64_t a) { (void)a; return ool_mov_fn(); }
static void enc_mov(const struct ool_fixture *f, int v, uint8_t *out)
{
	(void)f;
	insn_mov_eax(v ? OOL_MOV_B : OOL_MOV_A, out);
}
static uint64_t exp_mov(const struct ool_fixture *f, int v) { (void)f; return v ? OOL_MOV_B : OOL_MOV_A; }

static uint64_t run_cmp(uint64_t a) { return ool_cmp_fn((uint32_t)a); }
static void enc_cmp(const struct ool_fixture *f, int v, uint8_t *out)
{
	(void)f;
	out[0] = CMP_IMM32;
	out[1] = MODRM_CMP_EDI;
	put_imm32(out + 2, v ? OOL_CMP_B : OOL_CMP_A);
}
/* run with OOL_CMP_B: equal only to variant b's immediate */
static uint64_t exp_cmp(const struct ool_fixture *f, int v) { (void)f; return v ? 1 : 0; }

static uint64_t run_lea(uint64_t a) { (void)a; return ool_lea_fn(); }
static void enc_lea(const struct ool_fixture *f, int v, uint8_t *out)
{
	out[0] = REX_W;
	out[1] = LEA_OPCODE;
	out[2] = MODRM_RIP_EAX;
	put_disp32(out, (uintptr_t)f->site, f->len, v ? (uintptr_t)&ool_data_b : (uintptr_t)&ool_data_a);
}
static uint64_t exp_lea(const struct ool_fixture *f, int v)
{
	(void)f;
	return v ? (uintptr_t)&ool_data_b : (uintptr_t)&ool_data_a;
}

static uint64_t run_load(uint64_t a) { (void)a; return ool_load_fn(); }
static void enc_load(const struct ool_fixture *f, int v, uint8_t *out)
{
	out[0] = MOV_LOAD;
	out[1] = MODRM_RIP_EAX;
	put_disp32(out, (uintptr_t)f->site, f->len, v ? (uintptr_t)&ool_data_b : (uintptr_t)&ool_data_a);
}
static uint64_t exp_load(const struct ool_fixture *f, int v) { (void)f; return v ? OOL_DATA_B : OOL_DATA_A; }

static uint64_t run_call(uint64_t a) { (void)a; return ool_call_fn(); }
static void enc_call(const struct ool_fixture *f, int v, uint8_t *out)
{
	insn_call((uintptr_t)f->site, v ? (uintptr_t)ool_callee_b : (uintptr_t)ool_callee_a, out);
}
static uint64_t exp_callee(const struct ool_fixture *f, int v) { (void)f; return v ? OOL_CALLEE_B : OOL_CALLEE_A; }

static uint64_t run_icall(uint64_t a) { (void)a; return ool_icall_fn(); }
static void enc_icall(const struct ool_fixture *f, int v, uint8_t *out)
{
	out[0] = 0xff;
	out[1] = 0x15;                  /* ff /2, [rip+disp32] */
	put_disp32(out, (uintptr_t)f->site, f->len, v ? (uintptr_t)&ool_ptr_b : (uintptr_t)&ool_ptr_a);
}

static uint64_t run_jmp(uint64_t a) { (void)a; return ool_jmp_fn(); }
static void enc_jmp(const struct ool_fixture *f, int v, uint8_t *out)
{
	insn_jmp8((uintptr_t)f->site, v ? (uintptr_t)ool_jmp_b : (uintptr_t)ool_jmp_a, out);
}
static uint64_t exp_jmp(const struct ool_fixture *f, int v) { (void)f; return v ? OOL_JMP_B : OOL_JMP_A; }

static uint64_t run_jcc(uint64_t a) { return ool_jcc_fn((uint32_t)a); }
static void enc_jcc(const struct ool_fixture *f, int v, uint8_t *out)
{
	insn_jcc8((uintptr_t)f->site, v ? CC_NZ : CC_Z, (uintptr_t)ool_jcc_taken, out);
}
/* run with 0 (ZF set): jz is taken, jnz falls through */
static uint64_t exp_jcc(const struct ool_fixture *f, int v) { (void)f; return v ? OOL_JCC_FALLEN : OOL_JCC_TAKEN; }

const struct ool_fixture ool_fixtures[] = {
	{ "mov $imm,%eax", ool_mov_site, 5, 0, false, run_mov, enc_mov, exp_mov },
	{ "cmp $imm,%edi", ool_cmp_site, 6, OOL_CMP_B, false, run_cmp, enc_cmp, exp_cmp },
	{ "lea rip-relative", ool_lea_site, 7, 0, false, run_lea, enc_lea, exp_lea },
	{ "load rip-relative", ool_load_site, 6, 0, false, run_load, enc_load, exp_load },
	{ "call rel32", ool_call_site, 5, 0, true, run_call, enc_call, exp_callee },
	{ "call *rip-relative", ool_icall_site, 6, 0, true, run_icall, enc_icall, exp_callee },
	{ "jmp rel8", ool_jmp_site, 2, 0, false, run_jmp, enc_jmp, exp_jmp },
	{ "jcc rel8", ool_jcc_site, 2, 0, false, run_jcc, enc_jcc, exp_jcc },
};
const unsigned ool_nr_fixtures = sizeof(ool_fixtures) / sizeof(ool_fixtures[0]);

const struct ool_fixture *ool_fixture_by_kind(const char *kind)
{
	for (unsigned i = 0; i < ool_nr_fixtures; i++)
		if (!strcmp(ool_fixtures[i].kind, kind))
			return &ool_fixtures[i];
	return NULL;
}

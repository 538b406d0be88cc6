/*
 * arch/x86/asm-offsets.c — constants and struct offsets for NASM.
 *
 * Compiled to assembly only; the Makefile turns each "->NAME value" marker
 * into "%define NAME value" in build/gen/asm-offsets.inc, so NASM code uses
 * the same numbers as C, taken from arch/x86/layout.h and the C structs.
 */
#include <stddef.h>
#include "arch/x86/layout.h"
#include "arch/x86/regs.h"
#include "arch/x86/smp.h"
#include "kernel/percpu.h"
#include "lab/context_sites.h"
#include "lab/fixture_sites.h"
#include "lab/ool_sites.h"
#include "strategies/ool/ool_reloc.h"

#define DEFINE(sym, val) __asm__ volatile("\n.ascii \"->" #sym " %c0\"" :: "i"((long)(val)))
#define OFFSET(sym, str, mem) DEFINE(sym, offsetof(struct str, mem))

void asm_offsets(void);
void asm_offsets(void)
{
	DEFINE(KERNEL_VMA, KERNEL_VMA);
	DEFINE(KERNEL_CS, KERNEL_CS);
	DEFINE(KERNEL_DS, KERNEL_DS);
	DEFINE(TRAMP_PHYS, TRAMP_PHYS);
	DEFINE(TRAMP_PARAMS_OFF, TRAMP_PARAMS_OFF);
	DEFINE(BOOT_STACK_SIZE, BOOT_STACK_SIZE);
	DEFINE(VEC_SOFT_TEST, VEC_SOFT_TEST);

	OFFSET(TP_CR3, tramp_params, cr3);
	OFFSET(TP_STARTED, tramp_params, started);
	OFFSET(TP_STACK_TOP, tramp_params, stack_top);
	OFFSET(TP_PERCPU, tramp_params, percpu);
	OFFSET(TP_ENTRY, tramp_params, entry);
	DEFINE(TP_SIZE, sizeof(struct tramp_params));

	OFFSET(RP_RBX, recover_point, rbx);
	OFFSET(RP_RBP, recover_point, rbp);
	OFFSET(RP_R12, recover_point, r12);
	OFFSET(RP_R13, recover_point, r13);
	OFFSET(RP_R14, recover_point, r14);
	OFFSET(RP_R15, recover_point, r15);
	OFFSET(RP_RSP, recover_point, rsp);
	OFFSET(RP_RIP, recover_point, rip);
	OFFSET(RP_RFLAGS, recover_point, rflags);

	DEFINE(REGS_SIZE, sizeof(struct regs));
	/* Each GPR's slot, for the check of PUSH_GPRS (arch/x86/entry.inc). */
	OFFSET(REGS_R15, regs, r15);
	OFFSET(REGS_R14, regs, r14);
	OFFSET(REGS_R13, regs, r13);
	OFFSET(REGS_R12, regs, r12);
	OFFSET(REGS_R11, regs, r11);
	OFFSET(REGS_R10, regs, r10);
	OFFSET(REGS_R9, regs, r9);
	OFFSET(REGS_R8, regs, r8);
	OFFSET(REGS_RBP, regs, rbp);
	OFFSET(REGS_RDI, regs, rdi);
	OFFSET(REGS_RSI, regs, rsi);
	OFFSET(REGS_RDX, regs, rdx);
	OFFSET(REGS_RCX, regs, rcx);
	OFFSET(REGS_RBX, regs, rbx);
	OFFSET(REGS_RAX, regs, rax);
	OFFSET(REGS_VECTOR, regs, vector);
	OFFSET(REGS_RIP, regs, rip);
	OFFSET(REGS_RFLAGS, regs, rflags);
	OFFSET(REGS_RSP, regs, rsp);

	OFFSET(PC_CPU, percpu, cpu);
	/* A pin of the live batch (patch/live.c), dropped by the out-of-line
	 * slots' way out (strategies/ool/ool_slots.asm). */
	OFFSET(PC_LIVE_PIN, percpu, patch.live_pin);
	DEFINE(LIVE_PIN_ONE, LIVE_PIN_ONE);
	DEFINE(OOL_AREA_SIZE, OOL_AREA_SIZE);

	/* The lab (lab/context_sites_code.asm, lab/fixture_sites_code.asm). */
	DEFINE(SITE_NMI, SITE_NMI);
	DEFINE(SITE_MCE, SITE_MCE);
	DEFINE(SITE_IRQ, SITE_IRQ);
	DEFINE(CTX_VARIANT_A, CTX_VARIANT_A);
	DEFINE(CTX_VARIANT_B, CTX_VARIANT_B);
	DEFINE(LAB_CPU_SIZE, sizeof(struct lab_cpu));
	OFFSET(LAB_SITE_HITS, lab_cpu, site_hits);
	DEFINE(LAB_SITE_HITS_PER_SITE, sizeof(((struct lab_cpu *)0)->site_hits[0]));
	DEFINE(LAB_SITE_HITS_PER_VARIANT, sizeof(((struct lab_cpu *)0)->site_hits[0][0]));
	OFFSET(LAB_VALUE_HITS, lab_cpu, value_hits);
	OFFSET(LAB_VALUE_TORN, lab_cpu, value_torn);
	DEFINE(LAB_VALUE_HIT_SIZE, sizeof(((struct lab_cpu *)0)->value_hits[0]));
	DEFINE(VALUE_GOT_A, VALUE_GOT_A);
	DEFINE(VALUE_GOT_B, VALUE_GOT_B);
	DEFINE(VALUE_TORN, VALUE_TORN);
	DEFINE(VALUE_A, (int32_t)VALUE_A);          /* as a signed imm32: the same bits */
	DEFINE(VALUE_B, (int32_t)VALUE_B);
	DEFINE(FLIP_A, FLIP_A);
	DEFINE(FLIP_B, FLIP_B);
	DEFINE(BATCH_SITES, BATCH_SITES);
	DEFINE(OOL_MOV_A, OOL_MOV_A);               /* lab/ool_sites_code.asm */
	DEFINE(OOL_CMP_A, OOL_CMP_A);
	DEFINE(OOL_DATA_A, (int32_t)OOL_DATA_A);     /* as signed imm32s: the same bits */
	DEFINE(OOL_DATA_B, (int32_t)OOL_DATA_B);
	DEFINE(OOL_CALLEE_A, OOL_CALLEE_A);
	DEFINE(OOL_CALLEE_B, OOL_CALLEE_B);
	DEFINE(OOL_JMP_A, OOL_JMP_A);
	DEFINE(OOL_JMP_B, OOL_JMP_B);
	DEFINE(OOL_JCC_TAKEN, OOL_JCC_TAKEN);
	DEFINE(OOL_JCC_FALLEN, OOL_JCC_FALLEN);
	DEFINE(OOL_REP_BYTE, OOL_REP_BYTE);
}

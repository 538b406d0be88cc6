; tests/kernel/traps_helpers.asm — instruction-exact helpers for
; tests/kernel/test_traps.c: register state around int3, and faults at
; known addresses.

%include "arch/x86/regcheck.inc"

section .text

; int3_regs_check — does int3 come back to the next instruction with every
; register as it was?
;   C:   uint32_t int3_regs_check(void);
;   OUT: EAX = bitmask of registers that changed (bit 0 RAX ... bit 14 R15,
;        bit 5 RDI, bit 15 RSP, bit 16 CF, bit 17 DF), 0 if all preserved.
;   Note: callee-saved registers are saved and restored around the check.
global int3_regs_check
int3_regs_check:
        REGCHECK_ENTER saved_rsp
        REGCHECK_LOAD
        mov rdi, PAT_RDI
        stc                             ; CF = 1 and DF = 1 must survive too
        std
        int3
        ; Must resume exactly here. Capture flags first, then compare.
        pushfq
        pop qword [rel saved_flags]
        cld
        mov dword [rel result], 0
        REGCHECK_VERIFY rel result
        REGCHECK_RDI rel result
        cmp rsp, [rel saved_rsp]
        je .rsp_ok
        or dword [rel result], 1 << 15
.rsp_ok:
        test qword [rel saved_flags], 1         ; CF
        jnz .cf_ok
        or dword [rel result], 1 << 16
.cf_ok:
        test qword [rel saved_flags], 1 << 10   ; DF
        jnz .df_ok
        or dword [rel result], 1 << 17
.df_ok:
        mov eax, [rel result]
        REGCHECK_LEAVE saved_rsp

; trap_ud2 — raise #UD at the global label trap_ud2_site.
;   C: void trap_ud2(void *unused);
global trap_ud2, trap_ud2_site
trap_ud2:
trap_ud2_site:
        ud2
        ret

; trap_gp_noncanonical — load from a non-canonical address: #GP at
; trap_gp_site.   C: void trap_gp_noncanonical(void *unused);
global trap_gp_noncanonical, trap_gp_site
trap_gp_noncanonical:
        mov rax, 0x8000000000000000
trap_gp_site:
        mov rax, [rax]
        ret

section .bss
align 8
saved_rsp:      resq 1
saved_flags:    resq 1
regcheck_scratch: resq 1
result:         resd 1

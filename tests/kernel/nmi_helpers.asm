; tests/kernel/nmi_helpers.asm — instruction-exact helpers for
; tests/kernel/test_nmi.c and test_mce.c: a software interrupt taken inside
; an NMI handler returns without IRET (POPFQ; RET, arch/x86/entry.asm), and
; INT 18 goes through the #MC stub that moves its frame
; (arch/x86/mce_entry.asm); does each come back to the right instruction
; with every register and flag intact?

%include "asm-offsets.inc"
%include "arch/x86/regcheck.inc"

section .text

; soft_int_regs_check — INT VEC_SOFT_TEST with RSP at a chosen alignment.
; mce_int_regs_check  — the same with INT 18: the #MC entry stub, which
;                       moves its frame off the #MC IST stack.
;   C:   uint32_t soft_int_regs_check(uint64_t misalign);
;        uint32_t mce_int_regs_check(uint64_t misalign);
;   IN:  RDI = RSP mod 16 wanted at the INT (0 or 8)
;   OUT: EAX = bitmask of what changed across the INT (bit 0 RAX ... bit 14
;        R15 as in regcheck.inc, bit 5 RDI, bit 15 RSP, bit 16 RFLAGS), 0 if
;        nothing did; soft_int_rsp = RSP at the INT; soft_int_flags[0], [1] =
;        RFLAGS just before and just after it.
;   Note: CF and DF are set across the INT so that RFLAGS is not the
;   handler's. Callee-saved registers are preserved; the INT returns to
;   soft_int_ret_site / mce_int_ret_site. Any context (IF is left as it is).
%macro INT_REGS_CHECK 3                 ; function, its return site, vector
global %1, %2
%1:
        REGCHECK_ENTER saved_rsp
        and rsp, -16
        sub rsp, rdi                    ; RSP mod 16 = misalign from here on
        mov [rel soft_int_rsp], rsp
        REGCHECK_LOAD
        mov rdi, PAT_RDI
        stc                             ; CF = 1 and DF = 1 must survive too
        std
        pushfq                          ; RFLAGS before; push+pop leave RSP
        pop qword [rel soft_int_flags]  ; and the flags as they were
        int %3
%2:
        ; Must resume exactly here. Capture RFLAGS first, then compare.
        pushfq
        pop qword [rel soft_int_flags + 8]
        cld
        mov dword [rel result], 0
        REGCHECK_VERIFY rel result
        REGCHECK_RDI rel result
        cmp rsp, [rel soft_int_rsp]
        je %%rsp_ok
        or dword [rel result], 1 << 15
%%rsp_ok:
        mov rdi, [rel soft_int_flags]
        cmp rdi, [rel soft_int_flags + 8]
        je %%flags_ok
        or dword [rel result], 1 << 16
%%flags_ok:
        mov eax, [rel result]
        REGCHECK_LEAVE saved_rsp
%endmacro

global soft_int_rsp, soft_int_flags
INT_REGS_CHECK soft_int_regs_check, soft_int_ret_site, VEC_SOFT_TEST
INT_REGS_CHECK mce_int_regs_check, mce_int_ret_site, 18

; nmi_single_step — set TF: the CPU raises a single-step #DB (a trap) after
; the instruction that follows the POPFQ.
;   C: void nmi_single_step(void);
;   Note: clears TF again afterwards, if control ever gets back here.
global nmi_single_step
nmi_single_step:
        pushfq
        or qword [rsp], 1 << 8          ; TF
        popfq                           ; TF = 1: #DB after the next instruction
        nop
        pushfq
        and qword [rsp], ~(1 << 8)
        popfq
        ret

; nmi_tf_soft_int — INT VEC_SOFT_TEST with TF set, so that the frame of the
; INT carries TF in its saved RFLAGS.
;   C: void nmi_tf_soft_int(void);
;   Note: clears TF again afterwards, if control ever gets back here.
global nmi_tf_soft_int
nmi_tf_soft_int:
        pushfq
        or qword [rsp], 1 << 8          ; TF
        popfq                           ; TF = 1 from here: the INT saves it
        int VEC_SOFT_TEST
        pushfq
        and qword [rsp], ~(1 << 8)
        popfq
        ret

section .bss
align 8
saved_rsp:      resq 1
soft_int_rsp:   resq 1
soft_int_flags: resq 2
regcheck_scratch: resq 1
result:         resd 1

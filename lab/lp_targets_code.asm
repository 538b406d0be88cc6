; lab/lp_targets_code.asm — a function whose first 5 bytes are several
; instructions (no fentry NOP: a prologue as a kernel built without it
; has), for the livepatch test of such a site (tests/kernel/
; test_livepatch.c): only a strategy with multi_insn (stop-machine-nmi)
; may put a jmp over it; the others refuse it (PATCH_EMULTI_INSN).
;
;   push rbp; mov rbp, rsp; push rbx   5 bytes, 3 instructions: the site
;   mov eax, LP_MULTI_V1; pop rbx; pop rbp; ret

section .text

global lp_target_multi:function (lp_target_multi.end - lp_target_multi)
lp_target_multi:
        push rbp
        mov rbp, rsp
        push rbx
        mov eax, 0x1e0e0001             ; LP_MULTI_V1 (lab/lp_targets.h)
        pop rbx
        pop rbp
        ret
.end:

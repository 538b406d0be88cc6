; lab/fixture_sites_code.asm — functions with patch sites in them, for the
; self-tests and the console (`sites`, `patch SITE VARIANT`).
;
; Each flip_*_fn returns FLIP_A or FLIP_B in EAX depending on which variant
; its site holds, so a CPU calling it in a loop can tell whether it ever saw
; anything else (a torn instruction). The variants are described in
; lab/fixture_sites.c. FLIP_A, FLIP_B and BATCH_SITES come from
; lab/fixture_sites.h through asm-offsets.inc.

%include "asm-offsets.inc"

section .text

%macro RET_VALUE 2                      ; label, value
global %1
%1:
        mov eax, %2
        ret
%endmacro

; call rel32: call flip_ret_a <-> call flip_ret_b
global flip_call_fn, flip_call_site
flip_call_fn:
flip_call_site:
        call flip_ret_a
        ret
RET_VALUE flip_ret_a, FLIP_A
RET_VALUE flip_ret_b, FLIP_B

; jmp rel8: jmp short flip_jmp8_a <-> jmp short flip_jmp8_b
global flip_jmp8_fn, flip_jmp8_site
flip_jmp8_fn:
flip_jmp8_site:
        jmp short flip_jmp8_a
RET_VALUE flip_jmp8_b, FLIP_B
RET_VALUE flip_jmp8_a, FLIP_A

; jmp rel32: jmp near flip_jmp32_a <-> jmp near flip_jmp32_b
global flip_jmp32_fn, flip_jmp32_site
flip_jmp32_fn:
flip_jmp32_site:
        jmp near flip_jmp32_a
RET_VALUE flip_jmp32_a, FLIP_A
RET_VALUE flip_jmp32_b, FLIP_B

; jcc rel8, condition flip: ZF = 1, so "jz a" goes to A and "jnz a" falls to B
global flip_jcc8_fn, flip_jcc8_site
flip_jcc8_fn:
        xor eax, eax
flip_jcc8_site:
        jz short flip_jcc8_a
RET_VALUE flip_jcc8_b, FLIP_B
RET_VALUE flip_jcc8_a, FLIP_A

; jcc rel32, target flip: ZF = 1, "jz near a" <-> "jz near b"
global flip_jcc32_fn, flip_jcc32_site
flip_jcc32_fn:
        xor eax, eax
flip_jcc32_site:
        jz near flip_jcc32_a
        ud2                             ; never reached: ZF is set
RET_VALUE flip_jcc32_a, FLIP_A
RET_VALUE flip_jcc32_b, FLIP_B

; 2-byte nop <-> jmp short flip_nop2_b
global flip_nop2_fn, flip_nop2_site
flip_nop2_fn:
flip_nop2_site:
        db 0x66, 0x90
        mov eax, FLIP_A
        ret
RET_VALUE flip_nop2_b, FLIP_B

; 5-byte nop <-> call flip_set_b (which sets B and returns)
global flip_nop5_fn, flip_nop5_site
flip_nop5_fn:
        mov eax, FLIP_A
flip_nop5_site:
        db 0x0f, 0x1f, 0x44, 0x00, 0x00
        ret
RET_VALUE flip_set_b, FLIP_B

; ret <-> 1-byte nop (which falls through to B)
global flip_ret_fn, flip_ret_site
flip_ret_fn:
        mov eax, FLIP_A
flip_ret_site:
        ret
        mov eax, FLIP_B
        ret

; Two one-byte instructions: a site of length 2 here holds two instructions.
global two_nops_site
two_nops_site:
        nop
        nop
        ret

; BATCH_SITES functions, each "call batch_ret_a; ret": one batch flips every call.
global batch_fns, batch_ret_a, batch_ret_b
%assign i 0
%rep BATCH_SITES
batch_fn_ %+ i:
        call batch_ret_a
        ret
%assign i i + 1
%endrep
RET_VALUE batch_ret_a, FLIP_A
RET_VALUE batch_ret_b, FLIP_B

section .rodata
align 8
batch_fns:
%assign i 0
%rep BATCH_SITES
        dq batch_fn_ %+ i
%assign i i + 1
%endrep

section .text

; Two sites in one function, with no label between them (a label would be
; a symbol, and the validator would decode from it instead of from
; view_fn): the gdb scenario validate_beside_batch_in_flight freezes a
; batch at int3-written on the early one while another CPU validates the
; late one. Decoded from the live text, "cc 1f 44 00 00" loses sync (1f is
; no instruction in 64-bit mode); through the validator's view it does not.
global view_fn, view_late_off
view_fn:
        db 0x0f, 0x1f, 0x44, 0x00, 0x00 ; the early site: nop5 <-> call flip_set_b
        mov eax, FLIP_A
view_late_off equ $ - view_fn           ; an absolute symbol, not a text one
        db 0x0f, 0x1f, 0x44, 0x00, 0x00 ; the late site: nop5
        ret

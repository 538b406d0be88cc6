; lab/ool_sites_code.asm — functions whose sites only the out-of-line
; strategy (strategies/ool/) can patch, for tests/kernel/test_patch_ool.c
; (lab/ool_sites.h lists them and lab/ool_sites.c their variants). Each
; *_fn returns in RAX what its site computed, so a caller can tell which
; variant it ran, wherever it ran it (at the site or in a copy). The
; values come from lab/ool_sites.h through asm-offsets.inc.

%include "asm-offsets.inc"

extern ool_seen_ret                     ; lab/ool_sites.c: uint64_t[MAX_CPUS]

section .text

; mov $imm, %eax: OOL_MOV_A (b: OOL_MOV_B)
global ool_mov_fn, ool_mov_site
ool_mov_fn:
ool_mov_site:
        mov eax, strict dword OOL_MOV_A ; b8 imm32
        ret

; cmp: EAX = 1 if EDI equals the site's immediate, else 0. The flags are
; the copy's own: they must survive its way back (ool_exit).
;   IN: EDI. OUT: EAX.
global ool_cmp_fn, ool_cmp_site
ool_cmp_fn:
        xor eax, eax
ool_cmp_site:
        cmp edi, strict dword OOL_CMP_A ; 81 ff imm32 (b: OOL_CMP_B)
        sete al
        ret

; lea, RIP-relative: RAX = the address of ool_data_a (b: ool_data_b)
global ool_lea_fn, ool_lea_site
ool_lea_fn:
ool_lea_site:
        lea rax, [rel ool_data_a]       ; 48 8d 05 disp32
        ret

; a RIP-relative load: EAX = OOL_DATA_A, read from ool_data_a (b: ool_data_b)
global ool_load_fn, ool_load_site
ool_load_fn:
ool_load_site:
        mov eax, [rel ool_data_a]       ; 8b 05 disp32
        ret

; call rel32: EAX = OOL_CALLEE_A from ool_callee_a (b: ool_callee_b), which
; first records the return address it was given in ool_seen_ret[cpu]: the
; site's end, wherever the call ran.
global ool_call_fn, ool_call_site
ool_call_fn:
ool_call_site:
        call ool_callee_a               ; e8 rel32
        ret

; call [rip+disp32], indirect: through ool_ptr_a (b: ool_ptr_b), to the same
; callees.
global ool_icall_fn, ool_icall_site
ool_icall_fn:
ool_icall_site:
        call [rel ool_ptr_a]            ; ff 15 disp32
        ret

; The callees. Clobber RCX, RDX.
%macro CALLEE 2                         ; name, value
global %1
%1:
        mov rdx, [rsp]                  ; the return address the call pushed
        mov ecx, [gs:PC_CPU]
        mov [ool_seen_ret + rcx * 8], rdx
        mov eax, %2
        ret
%endmacro
CALLEE ool_callee_a, OOL_CALLEE_A
CALLEE ool_callee_b, OOL_CALLEE_B

; jmp rel8 (widened out of line): EAX = OOL_JMP_A (b: jumps to ool_jmp_b)
global ool_jmp_fn, ool_jmp_site, ool_jmp_a, ool_jmp_b
ool_jmp_fn:
ool_jmp_site:
        jmp short ool_jmp_a             ; eb rel8
ool_jmp_b:
        mov eax, OOL_JMP_B
        ret
ool_jmp_a:
        mov eax, OOL_JMP_A
        ret

; jcc rel8: with EDI = 0, "jz" (a) is taken and "jnz" (b) falls through.
;   IN: EDI. OUT: EAX = OOL_JCC_TAKEN or OOL_JCC_FALLEN.
global ool_jcc_fn, ool_jcc_site, ool_jcc_taken
ool_jcc_fn:
        test edi, edi
ool_jcc_site:
        jz short ool_jcc_taken          ; 74 rel8 (b: 75 rel8)
        mov eax, OOL_JCC_FALLEN
        ret
ool_jcc_taken:
        mov eax, OOL_JCC_TAKEN
        ret

; rep lodsb: read RSI bytes at RDI (b: rep stosb, which fills them with
; OOL_REP_BYTE). Long enough, either keeps a CPU inside one copy while it
; takes interrupts between iterations.
;   IN: RDI = buffer, RSI = count. Clobbers RAX, RCX, RSI, RDI.
global ool_rep_fn, ool_rep_site
ool_rep_fn:
        mov rcx, rsi
        mov rsi, rdi
        mov al, OOL_REP_BYTE
ool_rep_site:
        rep lodsb                       ; f3 ac (b: f3 aa)
        ret

; Never run: sites of 1, 2 and 3 bytes to ask for what no copy can do, and
; a ud2, an old instruction no copy can stand for.
global ool_refuse_fn, ool_refuse_nop1, ool_refuse_nop2, ool_refuse_nop3, ool_refuse_ud2
ool_refuse_fn:
ool_refuse_nop1:
        nop
ool_refuse_nop2:
        db 0x66, 0x90
ool_refuse_nop3:
        db 0x0f, 0x1f, 0x00
ool_refuse_ud2:
        ud2
        ret

section .rodata
align 8
global ool_data_a, ool_data_b, ool_ptr_a, ool_ptr_b
ool_data_a:
        dd OOL_DATA_A
ool_data_b:
        dd OOL_DATA_B
align 8
ool_ptr_a:
        dq ool_callee_a
ool_ptr_b:
        dq ool_callee_b

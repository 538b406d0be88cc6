; tests/kernel/bp_helpers.asm — instruction-exact helpers for
; tests/kernel/test_patch_bp.c: the #BP handler's view of int3s that are
; not (or no longer) patch sites.

section .text

; trap_int_imm3 — raise #BP with the two-byte "int $3" (CD 03), whose
; trap frame points two bytes past it, not one.
;   C:   uint32_t trap_int_imm3(void);
;   OUT: EAX = 0x33 when execution resumed right after the instruction.
global trap_int_imm3
trap_int_imm3:
        xor eax, eax
        db 0xcd, 0x03                   ; int 3, long form (NASM's "int3" is CC)
        mov eax, 0x33                   ; b8 33 00 00 00: from its second byte,
        ret                             ; "03 b8 ..." would be an add through RAX

; stale_int3_fn — an int3 the #BP handler is told to take for a stale fetch
; of a vanished one (patch/trap.c's bp_test_stale_int3): it re-runs it, and
; meets it again, until the re-run bound stops it.
;   C:   uint32_t stale_int3_fn(void);
global stale_int3_fn, stale_int3_site
stale_int3_fn:
stale_int3_site:
        int3
        mov eax, 0x44
        ret

; strategies/int3/int3_selftest_code.asm — the instructions int3_selftest()
; (int3_selftest.c) runs, in the style of Linux's
; int3_selftest: an int3 in a 5-byte slot that the #BP handler emulates as
; "call int3_selftest_magic".

%include "arch/x86/regcheck.inc"

section .text

; int3_selftest_run — hit the slot with every register holding a pattern.
;   C:   uint32_t int3_selftest_run(uint64_t *seen, uint64_t skew);
;   IN:  RDI = seen: int3_selftest_magic stores there the return address it
;        found on the stack
;        RSI = skew: 0 or 8, so both alignments of the interrupted RSP are
;        tried. With RSP 16-byte aligned the CPU puts its frame right below
;        RSP and an emulated push would land on the frame's SS slot; with
;        RSP = 8 mod 16 the push lands in the alignment hole and would hide
;        a missing gap.
;   OUT: EAX = bitmask of registers that changed across the emulated call
;        (regcheck.inc numbering; bit 5 RDI, bit 15 RSP, bit 16 CF), 0 if none
global int3_selftest_run, int3_selftest_site, int3_selftest_after, int3_selftest_magic
int3_selftest_run:
        REGCHECK_ENTER saved_rsp
        and rsp, -16                    ; RSP = 0 mod 16 ...
        sub rsp, rsi                    ; ... or 8 mod 16
        mov [rel site_rsp], rsp
        mov [rel saved_rdi], rdi
        REGCHECK_LOAD
        stc                             ; CF must survive the #BP round trip
int3_selftest_site:
        int3                            ; emulated as a 5-byte call
        db 0x0f, 0x1f, 0x40, 0x00       ; the rest of the slot: never executed
int3_selftest_after:
        pushfq
        pop qword [rel saved_flags]
        mov dword [rel result], 0
        REGCHECK_VERIFY rel result
        cmp rdi, [rel saved_rdi]
        je .rdi_ok
        or dword [rel result], 1 << 5
.rdi_ok:
        cmp rsp, [rel site_rsp]
        je .rsp_ok
        or dword [rel result], 1 << 15
.rsp_ok:
        test qword [rel saved_flags], 1
        jnz .cf_ok
        or dword [rel result], 1 << 16
.cf_ok:
        mov eax, [rel result]
        REGCHECK_LEAVE saved_rsp

; int3_selftest_magic — where the emulated call lands. Records the return
; address it was given and returns through it. Changes nothing but [RDI].
int3_selftest_magic:
        push rax
        mov rax, [rsp + 8]              ; pushed by the emulated call
        mov [rdi], rax
        pop rax
        ret

section .bss
align 8
saved_rsp:      resq 1
site_rsp:       resq 1
saved_rdi:      resq 1
saved_flags:    resq 1
regcheck_scratch: resq 1
result:         resd 1

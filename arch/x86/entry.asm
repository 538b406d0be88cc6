; arch/x86/entry.asm — the 256 interrupt/exception entry stubs.
;
; Each stub makes the CPU frame uniform (pushes a zero error code where the
; CPU pushes none), pushes its vector and joins isr_common, which saves every
; general-purpose register to complete a struct regs (arch/x86/regs.h) and
; calls trap_dispatch(struct regs *) (arch/x86/traps.c). On return the
; registers are reloaded from the frame, so a handler may rewrite any of
; them (and rip/rsp/rflags) before IRETQ.
;
; Stack alignment: the CPU aligns RSP to 16 before pushing its 5-qword frame;
; error + vector + 15 GPRs make 17 more qwords, so RSP is 16-byte aligned at
; "call trap_dispatch", as the SysV ABI wants.
;
; NMI (2), #MC (18) and #DF (8) arrive on their IST stacks (arch/x86/idt.c);
; the code here does not care which stack it runs on.

%include "asm-offsets.inc"

extern trap_dispatch

; Vectors for which the CPU pushes an error code.
%define HAS_ERROR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

section .text

%macro ISR_STUB 1
align 16
isr_%1:
%if HAS_ERROR(%1) == 0
        push qword 0
%endif
        push qword %1
        jmp isr_common
%endmacro

%assign v 0
%rep 256
%if v != 3
ISR_STUB v
%endif
%assign v v + 1
%endrep

; #BP (vector 3) makes room for an emulated push first.
;
; The patch core (patch/bp.c) emulates "call" for a CPU that hits a site's
; int3: it pushes a return address just below the interrupted RSP. But the
; CPU has put its 5-qword frame right there (at the interrupted RSP, aligned
; down to 16), so the push would overwrite the SS slot of the frame we are
; about to IRET through. Copy the frame BP_GAP bytes lower and continue on
; the copy; the original becomes dead space the handler may write into.
;
;   before                           after
;   RSP_int -> caller's data         RSP_int -> caller's data
;              SS RSP RFL CS RIP                (gap: old frame, 40 bytes,
;                        <- RSP                   + 8 so RSP stays 16-aligned)
;                                               SS RSP RFL CS RIP  <- RSP
BP_GAP equ 48                           ; >= 40 (the frame), multiple of 16
align 16
isr_3:
        sub rsp, BP_GAP
        push rax                        ; scratch; the copy is at RSP + 8
        mov rax, [rsp + 8 + BP_GAP + 0]   ; RIP
        mov [rsp + 8 + 0], rax
        mov rax, [rsp + 8 + BP_GAP + 8]   ; CS
        mov [rsp + 8 + 8], rax
        mov rax, [rsp + 8 + BP_GAP + 16]  ; RFLAGS
        mov [rsp + 8 + 16], rax
        mov rax, [rsp + 8 + BP_GAP + 24]  ; RSP
        mov [rsp + 8 + 24], rax
        mov rax, [rsp + 8 + BP_GAP + 32]  ; SS
        mov [rsp + 8 + 32], rax
        pop rax
        push qword 0                    ; error code
        push qword 3
        jmp isr_common

align 16
isr_common:
        push rax
        push rbx
        push rcx
        push rdx
        push rsi
        push rdi
        push rbp
        push r8
        push r9
        push r10
        push r11
        push r12
        push r13
        push r14
        push r15
        cld                             ; the ABI wants DF clear in C
        mov rdi, rsp                    ; struct regs *
        call trap_dispatch
        pop r15
        pop r14
        pop r13
        pop r12
        pop r11
        pop r10
        pop r9
        pop r8
        pop rbp
        pop rdi
        pop rsi
        pop rdx
        pop rcx
        pop rbx
        pop rax
        add rsp, 16                     ; vector, error code
        iretq

section .rodata
global isr_stub_table
align 8
isr_stub_table:
%assign v 0
%rep 256
        dq isr_ %+ v
%assign v v + 1
%endrep

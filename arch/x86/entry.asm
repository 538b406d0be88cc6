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
ISR_STUB v
%assign v v + 1
%endrep

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

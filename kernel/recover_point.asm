; kernel/recover_point.asm — save a thread context and resume it later, even from
; inside an interrupt or exception handler.
;
; Used by the test runner (kernel/ktest.c), the AP work loop
; (kernel/smp_call.c) and expected-fault windows (kernel/recover.c) to get
; back to a known point after a panic, a timeout or an expected fault.
;
; struct recover_point (kernel/percpu.h) holds the callee-saved registers,
; the stack pointer and return address of recover_save's caller, and RFLAGS.

%include "asm-offsets.inc"

section .text

; recover_save — like setjmp.
;   IN:  RDI = struct recover_point *
;   OUT: EAX = 0 now; EAX = val when resumed through recover_jump/recover_frame.
global recover_save
recover_save:
        mov [rdi + RP_RBX], rbx
        mov [rdi + RP_RBP], rbp
        mov [rdi + RP_R12], r12
        mov [rdi + RP_R13], r13
        mov [rdi + RP_R14], r14
        mov [rdi + RP_R15], r15
        lea rax, [rsp + 8]              ; RSP as it will be after our RET
        mov [rdi + RP_RSP], rax
        mov rax, [rsp]                  ; our return address
        mov [rdi + RP_RIP], rax
        pushfq
        pop qword [rdi + RP_RFLAGS]
        xor eax, eax
        ret

; recover_jump — resume a saved context from thread or handler context.
;   IN:  RDI = struct recover_point *, ESI = val (non-zero)
;   Note: goes through IRETQ on purpose: if called from an NMI handler, the
;   IRET ends the CPU's NMI-blocked state, as a normal NMI return would; it
;   also restores the saved RFLAGS (IF) atomically with the jump.
global recover_jump
recover_jump:
        cli
        mov rsp, [rdi + RP_RSP]         ; the resumed context's stack
        mov rax, rsp
        push qword KERNEL_DS            ; SS
        push rax                        ; RSP
        push qword [rdi + RP_RFLAGS]    ; RFLAGS
        push qword KERNEL_CS            ; CS
        lea rax, [rel recover_resume]
        push rax                        ; RIP
        iretq

; recover_resume — reached by IRETQ, from recover_jump or from a handler
; whose frame recover_frame() rewrote.
;   IN:  RDI = struct recover_point *, ESI = val; RSP = saved RSP.
global recover_resume
recover_resume:
        mov rbx, [rdi + RP_RBX]
        mov rbp, [rdi + RP_RBP]
        mov r12, [rdi + RP_R12]
        mov r13, [rdi + RP_R13]
        mov r14, [rdi + RP_R14]
        mov r15, [rdi + RP_R15]
        mov eax, esi
        jmp [rdi + RP_RIP]              ; "return" from recover_save

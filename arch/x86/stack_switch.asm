; arch/x86/stack_switch.asm — continue on another stack.
;
; stack_switch — call fn on a fresh stack, never to return.
;   C:   noreturn void stack_switch(uintptr_t new_top, void (*fn)(void));
;   IN:  RDI = top of the new stack (16-byte aligned), RSI = fn
;   Note: the old stack is abandoned; RBP is cleared so backtraces stop at fn.

section .text
global stack_switch
stack_switch:
        mov rsp, rdi
        xor ebp, ebp
        call rsi                        ; RSP is 16-aligned before the call
.hang:
        cli
        hlt
        jmp .hang

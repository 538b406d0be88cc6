; clients/trace/trace_entry.asm — where a traced function's first
; instruction, "call trace_entry" in place of its fentry NOP, goes: count
; the hit (trace_hit, clients/trace/trace_hit.c), then return to the
; function's second instruction with every register as it was.
;
; It runs before the function's prologue, so every argument register is
; live: rdi rsi rdx rcx r8 r9, rax (al: the vector-register count of a
; variadic call) and r10 (a nested function's static chain); r11 is the
; last caller-saved one. trace_hit may clobber all nine, so all nine are
; saved. The flags are not live at a function's entry (the ABI preserves
; none across a call; DF is clear), and the kernel uses no vector
; registers (-mgeneral-regs-only). No red zone (-mno-red-zone): pushing
; below the traced function's frame is safe in any context, IRQ included.
;
; Called by traced code only, and the #BP handler emulates "call
; trace_entry" for a CPU that meets a site in flight: same stack either way.

extern trace_hit

section .text

; trace_entry — count a hit of the traced function that called it.
;   IN:  [rsp] = that function's site + 5 (its second instruction)
;   OUT: every register as it was but the flags (dead at a function's entry)
;   Note: 80 bytes of stack below the traced function's return address.
global trace_entry
trace_entry:
        ; rsp+0: the return address into the traced function (its site + 5)
        ; rsp+8: the traced function's own return address
        ; rsp is 16-byte aligned here (8 for the call of the traced
        ; function, 8 for ours).
        push rax
        push rcx
        push rdx
        push rsi
        push rdi
        push r8
        push r9
        push r10
        push r11
        mov rdi, [rsp + 9 * 8]          ; trace_hit(site + 5)
        sub rsp, 8                      ; 9 pushes left rsp 8 off 16: realign for the call
        call trace_hit
        add rsp, 8
        pop r11
        pop r10
        pop r9
        pop r8
        pop rdi
        pop rsi
        pop rdx
        pop rcx
        pop rax
        ret

; tests/kernel/traps_helpers.asm — instruction-exact helpers for
; tests/kernel/test_traps.c: register state around int3, and faults at
; known addresses.

section .text

PAT_RAX equ 0x0123456789abcdef
PAT_RBX equ 0x1111111111111111
PAT_RCX equ 0x2222222222222222
PAT_RDX equ 0x3333333333333333
PAT_RSI equ 0x4444444444444444
PAT_RDI equ 0x5555555555555555
PAT_RBP equ 0x6666666666666666
PAT_R8  equ 0x7777777777777777
PAT_R9  equ 0x8888888888888888
PAT_R10 equ 0x9999999999999999
PAT_R11 equ 0xaaaaaaaaaaaaaaaa
PAT_R12 equ 0xbbbbbbbbbbbbbbbb
PAT_R13 equ 0xcccccccccccccccc
PAT_R14 equ 0xdddddddddddddddd
PAT_R15 equ 0xeeeeeeeeeeeeeeee

; int3_regs_check — does int3 come back to the next instruction with every
; register as it was?
;   C:   uint32_t int3_regs_check(void);
;   OUT: EAX = bitmask of registers that changed (bit 0 RAX ... bit 14 R15,
;        bit 15 RSP, bit 16 CF, bit 17 DF), 0 if all preserved.
;   Note: callee-saved registers are saved and restored around the check.
global int3_regs_check
int3_regs_check:
        push rbx
        push rbp
        push r12
        push r13
        push r14
        push r15
        mov [rel saved_rsp], rsp
        mov rax, PAT_RAX
        mov rbx, PAT_RBX
        mov rcx, PAT_RCX
        mov rdx, PAT_RDX
        mov rsi, PAT_RSI
        mov rdi, PAT_RDI
        mov rbp, PAT_RBP
        mov r8,  PAT_R8
        mov r9,  PAT_R9
        mov r10, PAT_R10
        mov r11, PAT_R11
        mov r12, PAT_R12
        mov r13, PAT_R13
        mov r14, PAT_R14
        mov r15, PAT_R15
        stc                             ; CF = 1 and DF = 1 must survive too
        std
        int3
        ; Must resume exactly here. Capture flags first, then compare.
        pushfq
        pop qword [rel saved_flags]
        cld
        mov [rel result], dword 0
%macro CHECK 3                          ; reg, pattern, bit
        mov [rel scratch], %1
        push rax
        mov rax, %2
        cmp [rel scratch], rax
        pop rax
        je %%ok
        or dword [rel result], 1 << %3
%%ok:
%endmacro
        CHECK rax, PAT_RAX, 0
        CHECK rbx, PAT_RBX, 1
        CHECK rcx, PAT_RCX, 2
        CHECK rdx, PAT_RDX, 3
        CHECK rsi, PAT_RSI, 4
        CHECK rdi, PAT_RDI, 5
        CHECK rbp, PAT_RBP, 6
        CHECK r8,  PAT_R8,  7
        CHECK r9,  PAT_R9,  8
        CHECK r10, PAT_R10, 9
        CHECK r11, PAT_R11, 10
        CHECK r12, PAT_R12, 11
        CHECK r13, PAT_R13, 12
        CHECK r14, PAT_R14, 13
        CHECK r15, PAT_R15, 14
        cmp rsp, [rel saved_rsp]
        je .rsp_ok
        or dword [rel result], 1 << 15
.rsp_ok:
        test qword [rel saved_flags], 1         ; CF
        jnz .cf_ok
        or dword [rel result], 1 << 16
.cf_ok:
        test qword [rel saved_flags], 1 << 10   ; DF
        jnz .df_ok
        or dword [rel result], 1 << 17
.df_ok:
        mov rsp, [rel saved_rsp]
        mov eax, [rel result]
        pop r15
        pop r14
        pop r13
        pop r12
        pop rbp
        pop rbx
        ret

; trap_ud2 — raise #UD at the global label trap_ud2_site.
;   C: void trap_ud2(void *unused);
global trap_ud2, trap_ud2_site
trap_ud2:
trap_ud2_site:
        ud2
        ret

; trap_gp_noncanonical — load from a non-canonical address: #GP at
; trap_gp_site.   C: void trap_gp_noncanonical(void *unused);
global trap_gp_noncanonical, trap_gp_site
trap_gp_noncanonical:
        mov rax, 0x8000000000000000
trap_gp_site:
        mov rax, [rax]
        ret

section .bss
align 8
saved_rsp:      resq 1
saved_flags:    resq 1
scratch:        resq 1
result:         resd 1

; boot/trampoline.asm — where an application processor starts after SIPI.
;
; arch/x86/smp.c copies tramp_start..tramp_end to physical TRAMP_PHYS (page
; aligned, below 1 MiB) and sends INIT-SIPI-SIPI with vector TRAMP_PHYS >> 12,
; so the AP begins here in real mode with CS = TRAMP_PHYS >> 4, IP = 0.
;
; Parameters travel in struct tramp_params (arch/x86/smp.h) at the fixed
; offset TRAMP_PARAMS_OFF in the copied page; smp.c fills it before each SIPI:
;   TP_CR3        kernel PML4 (physical, below 4 GiB: loaded in 32-bit mode)
;   TP_STACK_TOP  top of this CPU's guarded thread stack (virtual)
;   TP_PERCPU     this CPU's struct percpu (virtual)
;   TP_ENTRY      ap_entry (arch/x86/smp.c), void ap_entry(struct percpu *)
;   TP_STARTED    set to 1 by the AP as its very first memory write, so the
;                 BSP can tell "never started" from "started and stuck"
; The kernel page tables must identity-map TRAMP_PHYS (executable) while APs
; start: the instruction after "mov cr0" that turns paging on is fetched at
; its physical address.
;
; Every address below is TRAMP_PHYS + (label - tramp_start): the code is
; assembled into the kernel image but runs from the copy.

%include "asm-offsets.inc"

%define TADDR(l)    (TRAMP_PHYS + ((l) - tramp_start))
%define PARAM(f)    (TRAMP_PHYS + TRAMP_PARAMS_OFF + (f))

TR_CS32     equ 0x08
TR_DS       equ 0x10
TR_CS64     equ 0x18

section .rodata.trampoline progbits alloc noexec nowrite align=4096
global tramp_start, tramp_end

bits 16
tramp_start:
        cli
        cld
        mov ax, cs
        mov ds, ax
        mov byte [TRAMP_PARAMS_OFF + TP_STARTED], 1   ; "I got the SIPI"
        lgdt [tramp_gdt_ptr - tramp_start]
        mov eax, cr0
        or eax, 1                                     ; CR0.PE
        mov cr0, eax
        jmp dword TR_CS32:TADDR(pm32)

bits 32
pm32:
        mov ax, TR_DS
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov eax, cr4
        or eax, (1 << 5) | (1 << 7)                   ; PAE | PGE
        mov cr4, eax
        mov eax, [PARAM(TP_CR3)]
        mov cr3, eax
        mov ecx, 0xc0000080                           ; EFER
        rdmsr
        or eax, (1 << 8) | (1 << 11)                  ; LME | NXE: NX bits are
        wrmsr                                         ; reserved without NXE
        mov eax, cr0
        or eax, (1 << 31) | (1 << 16)                 ; PG | WP
        mov cr0, eax
        jmp TR_CS64:TADDR(lm64)

bits 64
lm64:
        mov ax, TR_DS
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov rsp, [PARAM(TP_STACK_TOP)]
        mov rdi, [PARAM(TP_PERCPU)]                   ; arg 0
        mov rax, [PARAM(TP_ENTRY)]
        xor ebp, ebp
        call rax                                      ; never returns
.hang:
        cli
        hlt
        jmp .hang

align 8
tramp_gdt:
        dq 0
        dq 0x00cf9a000000ffff                         ; TR_CS32: 32-bit code
        dq 0x00cf92000000ffff                         ; TR_DS: flat data
        dq 0x00af9a000000ffff                         ; TR_CS64: 64-bit code
tramp_gdt_ptr:
        dw tramp_gdt_ptr - tramp_gdt - 1
        dd TADDR(tramp_gdt)

        ; Pad to the fixed parameter offset; NASM fails the build if the
        ; code above ever grows past it.
        times TRAMP_PARAMS_OFF - ($ - tramp_start) db 0
tramp_params:
        times TP_SIZE db 0
tramp_end:

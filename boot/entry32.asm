; boot/entry32.asm — from GRUB's 32-bit handoff to C in the higher half.
;
; Contract (Multiboot2 spec, "Machine state"):
;   IN:  EAX = 0x36d76289 (bootloader magic), EBX = physical address of the
;        Multiboot2 information structure; protected mode, paging off,
;        interrupts off, no valid stack.
;   OUT: calls kmain_bsp(mbi_phys) (kernel/main.c) in 64-bit mode on the boot
;        stack (.bss, higher half) with boot page tables that map
;          - identity        0 .. 4 GiB  (PML4[0])   — this code keeps running
;          - direct map      DIRECT_MAP_BASE + 0 .. 4 GiB (PML4[256])
;          - kernel image    KERNEL_VMA + 0 .. 2 GiB (PML4[511], PDPT[510..511])
;        all with 2 MiB pages, writable. arch/x86/paging.c replaces them with
;        the final W^X tables; this file's code and tables are never used again.
;
; Everything here is linked and run at its physical address (section .boot.*,
; below KERNEL_VMA), so no address arithmetic on higher-half symbols is needed
; until the final jump.

%include "asm-offsets.inc"

MB2_BOOTLOADER_MAGIC    equ 0x36d76289
PTE_P                   equ 1 << 0
PTE_W                   equ 1 << 1
PTE_PS                  equ 1 << 7
COM1                    equ 0x3f8

extern kmain_bsp                ; kernel/main.c

section .boot.text progbits alloc exec nowrite align=16
bits 32
global mb2_entry32
mb2_entry32:
        cli
        cld
        mov esp, boot_stack32_top       ; a tiny stack for the checks below
        cmp eax, MB2_BOOTLOADER_MAGIC
        jne .bad_magic
        mov [boot_mbi_phys], ebx

        ; Long mode and NX are required: the final page tables rely on NX.
        mov eax, 0x80000000
        cpuid
        cmp eax, 0x80000001
        jb .no_long_mode
        mov eax, 0x80000001
        cpuid
        test edx, 1 << 29               ; LM
        jz .no_long_mode
        test edx, 1 << 20               ; NX
        jz .no_nx

        ; Zero the tables: GRUB zero-fills .bss-like tails, but do not rely on it.
        mov edi, boot_tables
        mov ecx, (boot_tables_end - boot_tables) / 4
        xor eax, eax
        rep stosd

        ; Four page directories of 2 MiB pages: physical 0 .. 4 GiB.
        mov edi, boot_pd
        mov eax, PTE_P | PTE_W | PTE_PS
        mov ecx, 4 * 512
.fill_pd:
        mov [edi], eax
        add eax, 0x200000
        add edi, 8
        loop .fill_pd

        ; Low PDPT: entries 0..3 point at the four directories.
        mov edi, boot_pdpt_lo
        mov eax, boot_pd + (PTE_P | PTE_W)
        mov ecx, 4
.fill_pdpt:
        mov [edi], eax
        add eax, 4096
        add edi, 8
        loop .fill_pdpt

        ; High PDPT: KERNEL_VMA is PDPT index 510 of PML4 slot 511.
        mov dword [boot_pdpt_hi + 510 * 8], boot_pd + 0 * 4096 + (PTE_P | PTE_W)
        mov dword [boot_pdpt_hi + 511 * 8], boot_pd + 1 * 4096 + (PTE_P | PTE_W)

        mov dword [boot_pml4 + 0 * 8],   boot_pdpt_lo + (PTE_P | PTE_W)
        mov dword [boot_pml4 + 256 * 8], boot_pdpt_lo + (PTE_P | PTE_W)
        mov dword [boot_pml4 + 511 * 8], boot_pdpt_hi + (PTE_P | PTE_W)

        ; Long mode: PAE, then CR3, then EFER.LME (+NXE), then paging.
        ; Order is architectural: LME must be set before CR0.PG.
        mov eax, cr4
        or eax, 1 << 5                  ; CR4.PAE
        mov cr4, eax
        mov eax, boot_pml4
        mov cr3, eax
        mov ecx, 0xc0000080             ; EFER
        rdmsr
        or eax, (1 << 8) | (1 << 11)    ; LME | NXE
        wrmsr
        mov eax, cr0
        or eax, (1 << 31) | (1 << 16) | 1 ; PG | WP | PE
        mov cr0, eax                    ; now in compatibility mode

        lgdt [boot_gdt_ptr]
        jmp KERNEL_CS:long_mode_entry   ; far jump loads the 64-bit CS

.bad_magic:
        mov esi, msg_bad_magic
        jmp .die
.no_long_mode:
        mov esi, msg_no_lm
        jmp .die
.no_nx:
        mov esi, msg_no_nx
.die:
        call serial32_puts
.halt:
        cli
        hlt
        jmp .halt

; serial32_puts — polled COM1 output before anything else exists.
;   IN: ESI = NUL-terminated string. Clobbers EAX, EDX, ESI.
serial32_puts:
        mov dx, COM1 + 1
        xor al, al
        out dx, al                      ; IER: no interrupts
        mov dx, COM1 + 3
        mov al, 0x80
        out dx, al                      ; LCR: DLAB on
        mov dx, COM1
        mov al, 1
        out dx, al                      ; divisor 1 = 115200 baud
        mov dx, COM1 + 1
        xor al, al
        out dx, al
        mov dx, COM1 + 3
        mov al, 0x03
        out dx, al                      ; 8N1, DLAB off
.next:
        lodsb
        test al, al
        jz .done
        mov ah, al
        mov dx, COM1 + 5
.wait:
        in al, dx                       ; LSR
        test al, 0x20                   ; THR empty
        jz .wait
        mov dx, COM1
        mov al, ah
        out dx, al
        jmp .next
.done:
        ret

bits 64
long_mode_entry:
        mov ax, KERNEL_DS
        mov ds, ax
        mov es, ax
        mov ss, ax
        xor eax, eax
        mov fs, ax
        mov gs, ax
        mov rsp, boot_stack_top         ; imm64: higher-half .bss
        xor ebp, ebp                    ; end of the frame-pointer chain
        mov edi, [boot_mbi_phys]        ; arg 0: Multiboot2 info (physical)
        mov rax, kmain_bsp
        call rax                        ; never returns
.hang:
        cli
        hlt
        jmp .hang

section .boot.data progbits alloc noexec write align=16
boot_gdt:
        dq 0                            ; null
        dq 0x00af9a000000ffff           ; KERNEL_CS: 64-bit code, DPL 0
        dq 0x00cf92000000ffff           ; KERNEL_DS: data
boot_gdt_ptr:
        dw boot_gdt_ptr - boot_gdt - 1
        dd boot_gdt
msg_bad_magic:  db "xpoke: not booted by a Multiboot2 loader (bad magic in EAX); halting", 13, 10, 0
msg_no_lm:      db "xpoke: this CPU has no long mode; halting", 13, 10, 0
msg_no_nx:      db "xpoke: this CPU has no NX bit; halting", 13, 10, 0

section .boot.bss nobits alloc noexec write align=4096
boot_tables:
boot_pml4:      resb 4096
boot_pdpt_lo:   resb 4096
boot_pdpt_hi:   resb 4096
boot_pd:        resb 4 * 4096
boot_tables_end:
boot_stack32:   resb 1024
boot_stack32_top:
boot_mbi_phys:  resd 1

; The BSP's first 64-bit stack, in the higher half (it must survive the
; switch to the final page tables). kernel/main.c moves to a guarded stack
; right after paging_init().
section .bss nobits alloc noexec write align=16
global boot_stack, boot_stack_top
boot_stack:     resb BOOT_STACK_SIZE
boot_stack_top:

; boot/multiboot2_header.asm — the Multiboot2 header GRUB looks for.
;
; GRUB scans the first 32 KiB of the kernel file for this 8-byte-aligned
; header (linker.ld puts section .multiboot2 first). xpoke asks for nothing
; beyond the defaults: GRUB always passes the command line, the memory map and
; the ACPI RSDP tags that boot/bootinfo.c reads. The entry point is the ELF
; entry, mb2_entry32 (boot/entry32.asm).

MB2_HEADER_MAGIC    equ 0xe85250d6
MB2_ARCH_I386       equ 0

section .multiboot2 progbits alloc noexec nowrite align=8
mb2_header:
        dd MB2_HEADER_MAGIC
        dd MB2_ARCH_I386
        dd mb2_header_end - mb2_header
        dd -(MB2_HEADER_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
        ; end tag: type 0, flags 0, size 8
        dw 0
        dw 0
        dd 8
mb2_header_end:

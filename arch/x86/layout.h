/*
 * arch/x86/layout.h — xpoke's memory map and fixed numbers, in one place.
 *
 * Included by C, by linker.ld (through cpp, with __ASSEMBLER__ defined) and
 * exported to NASM as build/gen/asm-offsets.inc (arch/x86/asm-offsets.c), so
 * every consumer reads the same value.
 *
 * Virtual address space (4-level paging, 48-bit):
 *
 *   0x0000000000000000  unmapped (NULL and friends fault); during AP bring-up
 *                        only, the trampoline page TRAMP_PHYS is identity-
 *                        mapped here (arch/x86/smp.c)
 *   0xffff800000000000  DIRECT_MAP_BASE: all RAM and the 4 GiB below it,
 *                        read-write, never executable; the kernel image's
 *                        .text/.rodata frames appear here read-only
 *   0xfffffe8000000000  POKE_AREA_BASE: PML4 slot 509, different in every
 *                        CPU's page-table root: the patch core's private
 *                        text alias (patch/text_poke.c), seen by one CPU only
 *   0xffffff0000000000  STACK_AREA_BASE: every kernel stack, each with an
 *                        unmapped guard page below it (PML4 slot 510)
 *   0xffffffff80000000  KERNEL_VMA: the kernel image, linked here
 *                        (-mcmodel=kernel), loaded at physical KERNEL_PHYS
 *                        (a few MiB; nothing else in this GiB)
 *   0xffffffffc0000000  LP_AREA_BASE: livepatch payloads (LP_AREA_SIZE),
 *                        mapped by clients/livepatch/lp_mem.c page by page,
 *                        text RX, rodata R, data RW+NX; within 2 GiB of
 *                        .text, so rel32 and -mcmodel=kernel's sign-extended
 *                        32-bit addresses reach both ways
 *
 * Physical memory used before the allocator exists:
 *
 *   0x00008000          TRAMP_PHYS: AP real-mode trampoline (SIPI vector 0x08)
 *   0x00100000          KERNEL_PHYS: .boot (multiboot2 header, 32-bit entry,
 *                        boot page tables), then the higher-half sections
 */
#ifndef XPOKE_ARCH_X86_LAYOUT_H
#define XPOKE_ARCH_X86_LAYOUT_H

#ifdef __ASSEMBLER__
#define _UL(x) x
#else
#define _UL(x) x##UL
#endif

#define PAGE_SIZE           4096
#define PAGE_SHIFT          12
#define LARGE_PAGE_SIZE     _UL(0x200000)

#define KERNEL_PHYS         _UL(0x100000)
#define KERNEL_VMA          _UL(0xffffffff80000000)
#define DIRECT_MAP_BASE     _UL(0xffff800000000000)
#define STACK_AREA_BASE     _UL(0xffffff0000000000)
#define POKE_AREA_BASE      _UL(0xfffffe8000000000)
#define LP_AREA_BASE        _UL(0xffffffffc0000000)
#define LP_AREA_SIZE        _UL(0x10000000)         /* 256 MiB */

#define TRAMP_PHYS          0x8000
#define TRAMP_PARAMS_OFF    0xf00   /* struct tramp_params inside the page */

/* Boot GDT selectors (boot/entry32.asm) and runtime GDT (arch/x86/gdt.c). */
#define KERNEL_CS           0x08
#define KERNEL_DS           0x10
#define KERNEL_TSS          0x18

/* Stacks: thread stack per CPU plus one IST stack per IST vector. */
#define STACK_SIZE          (16 * 1024)
#define IST_STACK_SIZE      (16 * 1024)
#define BOOT_STACK_SIZE     (16 * 1024)

/* IST slots (TSS.IST1..IST7); 0 means "no IST, use the current stack". */
#define IST_NMI             1
#define IST_MCE             2
#define IST_DF              3
#define IST_COUNT           3

#define MAX_CPUS            256

/* Interrupt vectors. 0x20-0x2f is left to the (masked) legacy PIC. */
#define VEC_SERIAL          0x30    /* COM1 receive, through the IOAPIC */
#define VEC_TIMER           0xe0    /* local APIC timer, one-shot deadlines */
#define VEC_STORM           0xe2    /* fixed-vector IPIs of storms (lab/storm.c) */
#define VEC_CALL            0xf0    /* wake an idle CPU to run queued work */
#define VEC_TEST            0xf1    /* fixed-vector IPI for self-tests */
#define VEC_SYNC            0xf2    /* patch-core rendezvous (patch/) */
#define VEC_STOP            0xf4    /* stop-machine strategy: spin until released (strategies/stop_machine/) */
#define VEC_SOFT_TEST       0xf3    /* tests' software INT n only: never raised by
				       hardware, so never acknowledged (irq_register_soft) */
#define VEC_APIC_ERROR      0xfe
#define VEC_SPURIOUS        0xff

/* isa-debug-exit: QEMU exits with status (value << 1) | 1. */
#define DEBUG_EXIT_PORT     0xf4
#define EXIT_SUCCESS_CODE   0       /* QEMU status 1 */
#define EXIT_TESTS_FAILED   1       /* QEMU status 3 */
#define EXIT_PANIC          2       /* QEMU status 5 */

#endif

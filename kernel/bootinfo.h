/*
 * kernel/bootinfo.h — what the bootloader told us, copied into the kernel.
 *
 * bootinfo_parse() reads the Multiboot2 information once, at the top of
 * kmain_bsp(), and copies everything xpoke uses, so the frames GRUB put it
 * in can be reused.
 */
#ifndef XPOKE_KERNEL_BOOTINFO_H
#define XPOKE_KERNEL_BOOTINFO_H

#include <stdint.h>

#define MMAP_AVAILABLE      1
#define MMAP_RESERVED       2
#define MMAP_ACPI           3
#define MMAP_NVS            4
#define MMAP_BAD            5
#define BOOTINFO_MMAP_MAX   128
#define BOOTINFO_MODS_MAX   32

/* A Multiboot2 module (tag 3): GRUB's `module2 FILE STRING` line. */
struct boot_module {
	uint64_t start, end;            /* physical [start, end) */
	char string[64];                /* the line's STRING (the payload's name) */
};

struct mmap_entry {
	uint64_t base, len;
	uint32_t type;
};

struct bootinfo {
	char cmdline[1024];
	char loader[64];
	struct mmap_entry mmap[BOOTINFO_MMAP_MAX];
	uint32_t n_mmap;
	uint8_t rsdp[64];               /* copy of the RSDP from tag 14 or 15 */
	uint32_t rsdp_len;
	uint32_t rsdp_tag;              /* 14 (ACPI 1.0 RSDP) or 15 (2.0+), 0 = none */
	struct boot_module mods[BOOTINFO_MODS_MAX];     /* their frames stay reserved (pmm) */
	uint32_t n_mods;
};

extern struct bootinfo bootinfo;

void bootinfo_parse(uint64_t mbi_phys);

#endif

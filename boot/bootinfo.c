/*
 * boot/bootinfo.c — parse the Multiboot2 information structure.
 *
 * Layout: u32 total_size, u32 reserved, then 8-byte-aligned tags
 * { u32 type, u32 size, payload }, ending with a type-0 tag.
 * Runs before anything but the console: it reads the structure through the
 * boot page tables' direct map (0..4 GiB).
 */
#include "arch/x86/paging.h"
#include "kernel/bootinfo.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/string.h"

#define TAG_END             0
#define TAG_CMDLINE         1
#define TAG_LOADER          2
#define TAG_MODULE          3
#define TAG_MMAP            6
#define TAG_ACPI_OLD        14
#define TAG_ACPI_NEW        15

struct tag { uint32_t type, size; };

struct bootinfo bootinfo;

static void copy_str(char *dst, size_t size, const struct tag *t)
{
	size_t n = t->size - sizeof(*t);
	const char *s = (const char *)(t + 1);
	if (n >= size)
		n = size - 1;
	memcpy(dst, s, n);
	dst[n] = 0;
}

static void parse_mmap(const struct tag *t)
{
	const uint32_t *hdr = (const uint32_t *)(t + 1);   /* entry_size, entry_version */
	uint32_t esize = hdr[0];
	const uint8_t *p = (const uint8_t *)(hdr + 2), *end = (const uint8_t *)t + t->size;
	if (esize < 24)
		panic("bootinfo: memory map entry size %u is too small", esize);
	for (; p + esize <= end; p += esize) {
		if (bootinfo.n_mmap == BOOTINFO_MMAP_MAX)
			panic("bootinfo: more than %d memory map entries", BOOTINFO_MMAP_MAX);
		struct mmap_entry *e = &bootinfo.mmap[bootinfo.n_mmap++];
		memcpy(&e->base, p, 8);
		memcpy(&e->len, p + 8, 8);
		memcpy(&e->type, p + 16, 4);
	}
}

/* Tag 3: u32 mod_start, u32 mod_end, then the NUL-terminated string. */
static void parse_module(const struct tag *t)
{
	if (t->size < sizeof(*t) + 8)
		panic("bootinfo: module tag of size %u is too small", t->size);
	if (bootinfo.n_mods == BOOTINFO_MODS_MAX)
		panic("bootinfo: more than %d modules", BOOTINFO_MODS_MAX);
	const uint32_t *w = (const uint32_t *)(t + 1);
	struct boot_module *m = &bootinfo.mods[bootinfo.n_mods++];
	m->start = w[0];
	m->end = w[1];
	if (m->end < m->start)
		panic("bootinfo: module [%#lx, %#lx) ends before it starts", m->start, m->end);
	size_t n = t->size - sizeof(*t) - 8;
	const char *s = (const char *)(w + 2);
	if (n >= sizeof(m->string))
		n = sizeof(m->string) - 1;
	memcpy(m->string, s, n);
	m->string[n] = 0;
}

static void parse_rsdp(const struct tag *t)
{
	uint32_t n = t->size - sizeof(*t);
	/* Prefer the ACPI 2.0+ RSDP (it can point at the XSDT). */
	if (bootinfo.rsdp_tag == TAG_ACPI_NEW && t->type == TAG_ACPI_OLD)
		return;
	if (n > sizeof(bootinfo.rsdp))
		n = sizeof(bootinfo.rsdp);
	memcpy(bootinfo.rsdp, t + 1, n);
	bootinfo.rsdp_len = n;
	bootinfo.rsdp_tag = t->type;
}

void bootinfo_parse(uint64_t mbi_phys)
{
	if (!mbi_phys || mbi_phys >= 0x100000000ull)
		panic("bootinfo: Multiboot2 information at %#lx is not below 4 GiB", mbi_phys);
	const uint8_t *mbi = P2V(mbi_phys);
	uint32_t total = *(const uint32_t *)mbi;
	const uint8_t *p = mbi + 8, *end = mbi + total;

	while (p + sizeof(struct tag) <= end) {
		const struct tag *t = (const struct tag *)p;
		if (t->type == TAG_END)
			break;
		if (t->size < sizeof(*t) || p + t->size > end)
			panic("bootinfo: malformed tag %u of size %u at %#lx", t->type, t->size,
			      mbi_phys + (uint64_t)(p - mbi));
		switch (t->type) {
		case TAG_CMDLINE: copy_str(bootinfo.cmdline, sizeof(bootinfo.cmdline), t); break;
		case TAG_LOADER:  copy_str(bootinfo.loader, sizeof(bootinfo.loader), t); break;
		case TAG_MMAP:    parse_mmap(t); break;
		case TAG_MODULE:  parse_module(t); break;
		case TAG_ACPI_OLD:
		case TAG_ACPI_NEW: parse_rsdp(t); break;
		}
		p += (t->size + 7) & ~7u;
	}
	if (!bootinfo.n_mmap)
		panic("bootinfo: the bootloader passed no memory map (Multiboot2 tag 6)");
}

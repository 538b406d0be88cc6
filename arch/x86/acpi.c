/*
 * arch/x86/acpi.c — find and validate the ACPI tables xpoke needs.
 *
 * Runs once on the BSP at boot; reads tables through the direct map.
 * Under QEMU with SeaBIOS, GRUB hands over only the ACPI 1.0 RSDP (tag 14),
 * which points at an RSDT; with ACPI 2.0+ firmware the RSDP may point at an
 * XSDT. Both are accepted, the XSDT preferred.
 */
#include "arch/x86/acpi.h"
#include "arch/x86/cpu.h"
#include "arch/x86/paging.h"
#include "arch/x86/pmm.h"
#include "kernel/bootinfo.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/string.h"

struct sdt_header {
	char sig[4];
	uint32_t length;
	uint8_t revision, checksum;
	char oem[6], oem_table[8];
	uint32_t oem_rev, creator, creator_rev;
} __attribute__((packed));

struct acpi_info acpi;

static uint8_t sum_bytes(const void *p, uint32_t n)
{
	uint8_t s = 0;
	for (uint32_t i = 0; i < n; i++)
		s += ((const uint8_t *)p)[i];
	return s;
}

/* Map-free access: the direct map covers every table's physical address. */
static const struct sdt_header *table_at(uint64_t pa, const char *sig)
{
	uint64_t limit = pmm_top_of_ram() > 0x100000000ull ? pmm_top_of_ram() : 0x100000000ull;
	if (!pa || pa >= limit)
		panic("acpi: %.4s pointer %#lx is not a plausible physical address", sig, pa);
	const struct sdt_header *h = P2V(pa);
	if (sig && memcmp(h->sig, sig, 4))
		panic("acpi: table at %#lx has signature '%.4s', expected '%.4s'", pa, h->sig, sig);
	if (h->length < sizeof(*h) || h->length > (1u << 20))
		panic("acpi: %.4s at %#lx has implausible length %u", h->sig, pa, h->length);
	if (sum_bytes(h, h->length))
		panic("acpi: %.4s at %#lx fails its checksum", h->sig, pa);
	return h;
}

static uint64_t rd(const void *p, unsigned n)
{
	uint64_t v = 0;
	memcpy(&v, p, n);
	return v;
}

static void parse_madt(const struct sdt_header *h)
{
	const uint8_t *b = (const uint8_t *)h;
	acpi.lapic_phys = (uint32_t)rd(b + 36, 4);
	acpi.pcat_compat = rd(b + 40, 4) & 1;
	for (uint32_t off = 44; off + 2 <= h->length;) {
		uint8_t type = b[off], len = b[off + 1];
		const uint8_t *e = b + off;
		if (len < 2 || off + len > h->length)
			panic("acpi: MADT entry type %u at offset %u has bad length %u", type, off, len);
		uint32_t apic_id = ~0u, flags = 0;
		switch (type) {
		case 0: apic_id = e[3]; flags = (uint32_t)rd(e + 4, 4); break;
		case 9: apic_id = (uint32_t)rd(e + 4, 4); flags = (uint32_t)rd(e + 8, 4); break;
		case 1:
			if (!acpi.have_ioapic) {        /* the first IOAPIC serves ISA IRQs */
				acpi.have_ioapic = true;
				acpi.ioapic_phys = (uint32_t)rd(e + 4, 4);
				acpi.ioapic_gsi_base = (uint32_t)rd(e + 8, 4);
			}
			break;
		case 2:
			if (acpi.n_iso < 16)
				acpi.iso[acpi.n_iso++] = (struct acpi_iso){
					e[3], (uint32_t)rd(e + 4, 4), (uint16_t)rd(e + 8, 2) };
			break;
		case 5: acpi.lapic_phys = rd(e + 4, 8); break;
		}
		if (apic_id != ~0u) {
			if (!(flags & 1)) {
				acpi.n_cpus_disabled++;
			} else if (apic_id >= 255) {
				printk("acpi: processor with APIC ID %u cannot be addressed in xAPIC mode; skipped", apic_id);
			} else if (acpi.n_cpus == MAX_CPUS) {
				printk("acpi: more than %d processors; APIC ID %u skipped", MAX_CPUS, apic_id);
			} else {
				acpi.cpu_apic_id[acpi.n_cpus++] = apic_id;
			}
		}
		off += len;
	}
	if (!acpi.n_cpus)
		panic("acpi: the MADT lists no enabled processor");
}

/* Find Name(_S5_, Package(){ a, b, ... }) in the DSDT's AML. */
static void parse_s5(const struct sdt_header *dsdt)
{
	const uint8_t *aml = (const uint8_t *)dsdt + sizeof(*dsdt);
	uint32_t n = dsdt->length - sizeof(*dsdt);
	for (uint32_t i = 0; i + 4 < n; i++) {
		if (memcmp(aml + i, "_S5_", 4) || aml[i + 4] != 0x12)   /* PackageOp */
			continue;
		uint32_t p = i + 5;
		p += 1 + (aml[p] >> 6);         /* PkgLength: lead byte + extra bytes */
		p++;                            /* NumElements */
		uint8_t v[2];
		for (int k = 0; k < 2 && p < n; k++) {
			uint8_t op = aml[p++];
			if (op == 0x0a && p < n)        /* BytePrefix */
				v[k] = aml[p++];
			else if (op == 0x00 || op == 0x01)  /* ZeroOp, OneOp */
				v[k] = op;
			else
				return;                 /* unexpected encoding: no S5 */
		}
		acpi.have_s5 = true;
		acpi.s5_typ_a = v[0];
		acpi.s5_typ_b = v[1];
		return;
	}
}

static void parse_fadt(const struct sdt_header *h)
{
	const uint8_t *b = (const uint8_t *)h;
	acpi.pm1a_cnt = (uint16_t)rd(b + 64, 4);
	acpi.pm1b_cnt = (uint16_t)rd(b + 68, 4);
	if (h->length >= 92 && b[91] == 4)
		acpi.pm_tmr_port = (uint16_t)rd(b + 76, 4);
	if (h->length >= 116)
		acpi.pm_tmr_32bit = rd(b + 112, 4) & (1u << 8);
	if (h->length >= 129 && (rd(b + 112, 4) & (1u << 10))) {
		memcpy(&acpi.reset_reg, b + 116, sizeof(acpi.reset_reg));
		acpi.reset_value = b[128];
		acpi.have_reset = true;
	}
	uint64_t dsdt = rd(b + 40, 4);
	if (h->length >= 148 && rd(b + 140, 8))
		dsdt = rd(b + 140, 8);
	if (dsdt)
		parse_s5(table_at(dsdt, "DSDT"));
}

void acpi_init(void)
{
	if (!bootinfo.rsdp_tag)
		panic("acpi: the bootloader passed no ACPI RSDP (Multiboot2 tags 14/15)");
	const uint8_t *r = bootinfo.rsdp;
	if (memcmp(r, "RSD PTR ", 8))
		panic("acpi: RSDP from tag %u has a bad signature", bootinfo.rsdp_tag);
	if (sum_bytes(r, 20))
		panic("acpi: RSDP from tag %u fails its checksum", bootinfo.rsdp_tag);
	memcpy(acpi.oem, r + 9, 6);
	uint8_t revision = r[15];
	uint64_t rsdt = rd(r + 16, 4), xsdt = 0;
	if (revision >= 2 && bootinfo.rsdp_len >= 36) {
		uint32_t len = (uint32_t)rd(r + 20, 4);
		if (len > bootinfo.rsdp_len || sum_bytes(r, len))
			panic("acpi: ACPI 2.0 RSDP fails its extended checksum");
		xsdt = rd(r + 24, 8);
	}

	const struct sdt_header *root = xsdt ? table_at(xsdt, "XSDT") : table_at(rsdt, "RSDT");
	unsigned esize = xsdt ? 8 : 4;
	acpi.root_tag = xsdt ? 'X' : 'R';
	const struct sdt_header *madt = NULL, *fadt = NULL;
	for (uint32_t off = sizeof(*root); off + esize <= root->length; off += esize) {
		uint64_t pa = rd((const uint8_t *)root + off, esize);
		const struct sdt_header *h = P2V(pa);
		if (!memcmp(h->sig, "APIC", 4))
			madt = table_at(pa, "APIC");
		else if (!memcmp(h->sig, "FACP", 4))
			fadt = table_at(pa, "FACP");
	}
	if (!madt)
		panic("acpi: no MADT ('APIC') in the %cSDT", acpi.root_tag);
	parse_madt(madt);
	if (fadt)
		parse_fadt(fadt);
	printk("acpi: OEM '%s', %cSDT, %u enabled CPU(s)%s, IOAPIC %s, PM timer %s, S5 %s",
	       acpi.oem, acpi.root_tag, acpi.n_cpus,
	       acpi.n_cpus_disabled ? " (+disabled)" : "",
	       acpi.have_ioapic ? "yes" : "no", acpi.pm_tmr_port ? "yes" : "no",
	       acpi.have_s5 ? "yes" : "no");
}

uint32_t acpi_pm_timer_read(void)
{
	if (!acpi.pm_tmr_port)
		return 0;
	uint32_t v = inl(acpi.pm_tmr_port);
	return acpi.pm_tmr_32bit ? v : v & 0xffffff;
}

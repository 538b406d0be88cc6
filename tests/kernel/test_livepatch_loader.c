/*
 * tests/kernel/test_livepatch_loader.c — the livepatch loader
 * (clients/livepatch/load.c, elf_link.c, lp_mem.c) against the test
 * payloads of tests/livepatch/, which the test ISO and every runner ISO
 * carry as Multiboot2 modules: each bad one refused with its own code, at
 * boot and again now, leaving nothing behind; reloc_kinds linked right;
 * the payload area W^X.
 */
#include "arch/x86/paging.h"
#include "clients/livepatch/livepatch.h"
#include "clients/livepatch/lp_mem.h"
#include "clients/poke/text_crc.h"
#include "kernel/bootinfo.h"
#include "kernel/errno.h"
#include "kernel/ksyms.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/recover.h"
#include "kernel/string.h"

static const struct { const char *module; int err; } bad[] = {
	{ "bad_notelf",  -LP_ENOT_ELF },
	{ "bad_machine", -LP_EMACHINE },
	{ "bad_reloc",   -LP_ERELOC_TYPE },
	{ "bad_undef",   -LP_EUNDEF_SYMBOL },
	{ "bad_nofunc",  -LP_ENO_FUNCTION },
	{ "bad_nopatch", -LP_ENOPATCH },
	{ "bad_dupfunc", -LP_EDUP_FUNC },
	{ "bad_range",   -LP_ERELOC_RANGE },
	{ "bad_huge",    -LP_ENOMEM },
	{ "bad_zerofn",  -LP_EBAD_NEW },
	{ "bad_ambiguous", -LP_EAMBIGUOUS },
	{ "bad_funcsreloc", -LP_EMALFORMED },
	{ "bad_dupsec",  -LP_EMALFORMED },
};

static const struct boot_module *module_named(const char *name)
{
	for (unsigned i = 0; i < bootinfo.n_mods; i++)
		if (!strcmp(bootinfo.mods[i].string, name))
			return &bootinfo.mods[i];
	return NULL;
}

static const struct lp_refusal *refusal_of(const char *module)
{
	for (unsigned i = 0; i < lp_refusal_count(); i++)
		if (!strcmp(lp_refusal_at(i)->module, module))
			return lp_refusal_at(i);
	return NULL;
}

static const char *no_payloads(void)
{
	return bootinfo.n_mods ? NULL : "no Multiboot2 modules (boot the test ISO: it carries tests/livepatch/)";
}

static void test_loader_refusals(void)
{
	static struct lp_payload scratch;
	static char why[192];
	uint32_t crc = text_crc();
	unsigned count = lp_count(), pages = lp_mem_mapped_pages();

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *m = bad[i].module;
		const struct lp_refusal *r = refusal_of(m);
		report(r && r->err == bad[i].err, "%s: refused at boot with %s (got %s: %s)", m,
		       lp_errname(bad[i].err), r ? errno_name(r->err) : "not refused", r ? r->why : "");
		const struct boot_module *mod = module_named(m);
		if (!report(mod != NULL, "%s: its module is in the boot information", m))
			continue;
		int err = lp_link(m, P2V(mod->start), mod->end - mod->start, &scratch, why, sizeof(why));
		report(err == bad[i].err, "%s: linked again: %s (%s)", m, errno_name(err), why);
		report(lp_find(m) == NULL && lp_count() == count && lp_mem_mapped_pages() == pages,
		       "%s: no payload registered (%u), no page left mapped in the payload area (%u, was %u)",
		       m, lp_count(), lp_mem_mapped_pages(), pages);
	}
	report(text_crc() == crc, "kernel text unchanged by the refused links (crc %#x)", crc);
	struct lp_payload *e = lp_find("bad_expect");
	report(e && e->nfuncs == 1 && e->funcs[0].expect_set == LP_EXPECT_SOURCE && e->funcs[0].expect[0] == 0xcc,
	       "bad_expect loaded with its source expectation (refused only at apply)");
}
KTEST("livepatch.loader_refusals", test_loader_refusals, .skip = no_payloads);

extern const char *errno_name(int err);
extern uint32_t nr_cpus_online;

static void test_relocations(void)
{
	struct lp_payload *p = lp_find("reloc_kinds");
	if (!report(p != NULL, "reloc_kinds loaded"))
		return;
	const struct lp_link_stats *s = &p->link;
	report(s->pc32 >= 1 && s->plt32 >= 1 && s->abs64 >= 1 && s->abs32s >= 1,
	       "relocations applied: %u PC32, %u PLT32, %u 64, %u 32S", s->pc32, s->plt32, s->abs64, s->abs32s);
	report(s->to_kernel >= 1 && s->to_self >= 1, "against the kernel: %u, against itself: %u",
	       s->to_kernel, s->to_self);
	const struct lp_func *f = &p->funcs[0];
	report(p->nfuncs == 1 && f->old_addr == (uintptr_t)errno_name && !strcmp(f->name, "errno_name"),
	       "replaces errno_name at %#lx (%s)", f->old_addr, f->name);
	report(f->expect_set == LP_EXPECT_BUILD && !memcmp(f->expect, (const void *)f->old_addr, LP_PATCH_LEN),
	       "its expectation, filled by lp-build.py, is errno_name's first %d bytes", LP_PATCH_LEN);
	report(f->new_addr >= p->text_start && f->new_addr < p->text_end, "new body %#lx in the payload's text",
	       f->new_addr);
	const char *(*probe)(int) = (const char *(*)(int))f->new_addr;
	const char *v0 = probe(0);
	report(v0 == errno_name(-ENOMEM), "PLT32 to a kernel function: errno_name(-ENOMEM) = %s", v0);
	report(probe(1) == (const char *)&bootinfo, "32S to kernel data: %p == &bootinfo %p",
	       probe(1), (void *)&bootinfo);
	report((uintptr_t)probe(2) == nr_cpus_online, "PC32 to kernel data: %lu == nr_cpus_online %u",
	       (uintptr_t)probe(2), nr_cpus_online);
	report((uintptr_t)probe(3) == 1234, "PC32 to its own data: %lu == 1234", (uintptr_t)probe(3));
	report(probe(4) == (const char *)&nr_cpus_online, "64 to kernel data (a pointer table): %p == %p",
	       probe(4), (void *)&nr_cpus_online);
	report((uintptr_t)probe(5) == 7, "64 to its own function, called: %lu == 7", (uintptr_t)probe(5));
}
KTEST("livepatch.relocations", test_relocations, .skip = no_payloads);

static void poke(void *p) { *(volatile uint8_t *)p = 0; }
static void poke_same(void *p) { volatile uint8_t *b = p; *b = *b; }
static void jump(void *p) { ((void (*)(void))p)(); }

#define PF 14

static void test_wx(void)
{
	struct lp_payload *p = lp_find("reloc_kinds");
	if (!report(p != NULL, "reloc_kinds loaded"))
		return;
	uintptr_t ro_start = p->text_end;
	uintptr_t ro_end = ro_start + ((p->link.ro_bytes + PAGE_SIZE - 1) & ~(uintptr_t)(PAGE_SIZE - 1));
	unsigned text = 0, ro = 0, data = 0, wrong = 0;
	for (uintptr_t a = p->mem_start; a < p->mem_end; a += PAGE_SIZE) {
		uint64_t *e = paging_lookup(a, NULL);
		uint64_t v = e ? *e : 0;
		bool w = v & PTE_W, x = !(v & PTE_NX);
		bool ok;
		if (a < p->text_end)
			ok = x && !w, text++;
		else if (a < ro_end)
			ok = !x && !w, ro++;
		else
			ok = !x && w, data++;
		if (!e || !ok) {
			wrong++;
			report_info("page %#lx: pte %#lx", a, v);
		}
	}
	report(text && ro && data && !wrong, "%u text pages X and not W, %u ro pages neither, %u data pages W and NX; "
	       "%u wrong", text, ro, data, wrong);
	struct fault_catch fc;
	int v = catch_exception(poke, (void *)p->text_start, &fc);
	report(v == PF && (fc.error & 2), "a write to the text at %#lx faults (vector %d)", p->text_start, v);
	v = catch_exception(poke, (void *)ro_start, &fc);
	report(v == PF && (fc.error & 2), "a write to the ro data at %#lx faults (vector %d)", ro_start, v);
	for (int k = 0; k < 2; k++) {          /* the frames' second address: the direct map */
		uintptr_t a = k ? ro_start : p->text_start;
		uint64_t *e = paging_lookup(a, NULL);
		void *alias = e ? P2V(*e & PTE_ADDR) : NULL;
		v = alias ? catch_exception(poke_same, alias, &fc) : -1;
		report(v == PF && (fc.error & 2) && fc.cr2 == (uintptr_t)alias,
		       "a write to the %s's direct-map alias %p (of %#lx) faults (vector %d)",
		       k ? "ro data" : "text", alias, a, v);
	}
	v = catch_exception(jump, (void *)ro_end, &fc);
	report(v == PF && (fc.error & 16) && fc.cr2 == ro_end, "a jump into the data at %#lx faults as a fetch (vector %d)",
	       ro_end, v);
}
KTEST("livepatch.wx", test_wx, .skip = no_payloads);

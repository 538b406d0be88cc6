/*
 * tests/kernel/test_patch_core.c — the patch core's building blocks: the
 * #BP call emulation, the private alias, W^X after patching.
 */
#include "arch/x86/paging.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/recover.h"
#include "kernel/string.h"
#include "patch/bp.h"
#include "patch/patch.h"
#include "patch/sites.h"
#include "tests/kernel/patch_sites.h"

/* Does an emulated call return to the right place with every register
 * intact, for both alignments of the interrupted stack? */
static void test_int3_selftest(void)
{
	const char *why = int3_selftest();
	report(!why, "int3 self-test: %s", why ? why : "call emulated, returned after the slot, registers intact");
}
KTEST("patch.int3_selftest", test_int3_selftest);

static void write_byte(void *p) { *(volatile uint8_t *)p = 0xcc; }

/* After patching, is the site still read-only through the text mapping, and
 * is the private alias gone? */
static void test_wx_after_patch(void)
{
	const struct patch_site_def *s = site_by_name("call");
	int err = site_patch(s, variant_by_name(s, "b"));
	report(err == 0, "patched call -> b (%s)", patch_errname(err));
	report(flip_call_fn() == FLIP_B, "the site now calls b");

	uint8_t before[POKE_MAX_LEN];
	memcpy(before, s->addr, s->len);
	struct fault_catch f;
	int v = catch_exception(write_byte, (void *)s->addr, &f);
	report(v == 14 && (f.error & 3) == 3 && f.cr2 == (uintptr_t)s->addr,
	       "a direct write to the patched site faults: vector %d, error %#lx", v, f.error);
	report(!memcmp(before, s->addr, s->len), "the site is unchanged by the attempt");
	report(paging_lookup(POKE_AREA_BASE, NULL) == NULL, "the private poke window is unmapped again");
	report(paging_lookup(POKE_AREA_BASE + PAGE_SIZE, NULL) == NULL, "both of its pages");

	err = site_patch(s, variant_by_name(s, "a"));
	report(err == 0 && flip_call_fn() == FLIP_A, "patched back to a");
}
KTEST("patch.wx_holds_after_patching", test_wx_after_patch);

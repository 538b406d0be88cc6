/*
 * tests/kernel/test_mm.c — memory protection: W^X everywhere, guard pages
 * under every stack.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/paging.h"
#include "clients/livepatch/lp_mem.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/recover.h"
#include "kernel/string.h"

#define PF 14
#define PF_PRESENT  (1u << 0)
#define PF_WRITE    (1u << 1)
#define PF_FETCH    (1u << 4)

static uint64_t text_checksum(void)
{
	uint64_t sum = 0;
	for (const uint64_t *p = (const uint64_t *)__text_start; p < (const uint64_t *)__text_end; p++)
		sum = sum * 31 + *p;
	return sum;
}

static void write_byte(void *p) { *(volatile uint8_t *)p = 0xcc; }
static void read_byte(void *p) { (void)*(volatile uint8_t *)p; }
static void call_at(void *p) { ((void (*)(void))p)(); }

/* Does writing to .text fault, through the image mapping and the direct map? */
static void test_text_write(void)
{
	struct fault_catch f;
	uint8_t *target = (uint8_t *)test_text_write;
	uint8_t before = *target;
	uint64_t sum = text_checksum();

	int v = catch_exception(write_byte, target, &f);
	report(v == PF, "write to .text at %p raised vector %d (expected #PF)", target, v);
	report((f.error & (PF_PRESENT | PF_WRITE)) == (PF_PRESENT | PF_WRITE),
	       "error code %#lx says: present page, write access", f.error);
	report(f.cr2 == (uintptr_t)target, "CR2 %#lx is the target", f.cr2);

	void *alias = P2V(KIMG_V2P(target));
	v = catch_exception(write_byte, alias, &f);
	report(v == PF && f.cr2 == (uintptr_t)alias, "write to the direct-map alias %p raised #PF (vector %d)", alias, v);

	report(*target == before && text_checksum() == sum, ".text unchanged");
}
KTEST("mm.text_write_faults", test_text_write);

/* Does writing to .rodata fault? */
static const uint8_t ro_byte = 7;

static void test_rodata_write(void)
{
	struct fault_catch f;
	int v = catch_exception(write_byte, (void *)&ro_byte, &f);
	report(v == PF && (f.error & PF_WRITE), "write to .rodata raised #PF (vector %d, error %#lx)", v, f.error);
	report(ro_byte == 7, ".rodata unchanged");
}
KTEST("mm.rodata_write_faults", test_rodata_write);

/* Does executing from data (.data, the stack, the direct map) fault with NX? */
static uint8_t data_ret[16] = { 0xc3 };         /* ret */

static void test_nx(void)
{
	struct fault_catch f;
	uint8_t stack_ret[16] = { 0xc3 };
	void *targets[] = { data_ret, stack_ret, P2V(KIMG_V2P(__text_start)) };
	const char *names[] = { ".data", "the stack", "the direct-map alias of .text" };

	for (unsigned i = 0; i < 3; i++) {
		int v = catch_exception(call_at, targets[i], &f);
		report(v == PF && (f.error & PF_FETCH) && f.cr2 == (uintptr_t)targets[i],
		       "executing %s at %p raised #PF on instruction fetch (vector %d, error %#lx, CR2 %#lx)",
		       names[i], targets[i], v, f.error, f.cr2);
	}
}
KTEST("mm.nx_data_exec_faults", test_nx);

/* Is there an unmapped guard page under every stack of every CPU? */
static void test_guards(void)
{
	unsigned stacks = 0, bad = 0;
	for_each_cpu_in(c, &cpu_online_mask) {
		struct percpu *pc = percpu_of(c);
		uintptr_t lo[1 + IST_COUNT] = { pc->stack_lo };
		for (int i = 1; i <= IST_COUNT; i++)
			lo[i] = pc->ist_lo[i];
		for (int i = 0; i <= IST_COUNT; i++) {
			stacks++;
			if (!lo[i] || paging_lookup(lo[i] - 1, NULL) || !paging_lookup(lo[i], NULL)) {
				report(false, "CPU %u stack %d [%#lx..]: guard page missing or stack unmapped", c, i, lo[i]);
				bad++;
			}
		}
	}
	report(bad == 0, "%u stacks on %u CPUs each have an unmapped page below them", stacks, nr_cpus_online);

	struct fault_catch f;
	void *guard = (void *)(this_cpu()->stack_lo - 8);
	int v = catch_exception(read_byte, guard, &f);
	report(v == PF && !(f.error & PF_PRESENT) && f.cr2 == (uintptr_t)guard,
	       "reading this CPU's guard page faults as not-present (vector %d, error %#lx)", v, f.error);
}
KTEST("mm.stack_guard_pages", test_guards);

/* Leaves the audit saw in the livepatch payload area (clients/livepatch/lp_mem.c). */
static unsigned lp_area_leaves;
/* Executable frames whose direct-map alias the audit looked up, and how many
 * of those were writable there. */
static unsigned aliases_checked, aliases_writable;

/* Is the direct map's entry for the executable page at va (frame pa) read-only? */
static void check_alias(uintptr_t va, uint64_t pa)
{
	int level;
	uint64_t *d = paging_lookup((uintptr_t)P2V(pa), &level);
	aliases_checked++;
	if (d && (*d & PTE_W)) {
		if (aliases_writable < 4)
			report(false, "executable page %#lx (frame %#lx) is writable through the direct map "
			       "at %p (level %d entry %#lx)", va, pa, P2V(pa), level, *d);
		aliases_writable++;
	}
}

/* Is any page anywhere in the page tables both writable and executable? */
static unsigned audit(uint64_t *table, int level, uintptr_t va, uint64_t inherited_nx, unsigned *leaves)
{
	unsigned bad = 0;
	for (unsigned i = 0; i < 512; i++) {
		uint64_t e = table[i];
		if (!(e & PTE_P))
			continue;
		uintptr_t a = va | ((uintptr_t)i << (12 + 9 * (level - 1)));
		if (level == 4 && i >= 256)
			a |= 0xffff000000000000ull;     /* sign-extend */
		uint64_t nx = inherited_nx | (e & PTE_NX);
		uint64_t w = e & PTE_W;
		if (level == 1 || (e & PTE_PS)) {
			(*leaves)++;
			if (a >= LP_AREA_BASE && a - LP_AREA_BASE < LP_AREA_SIZE)
				lp_area_leaves++;
			if (w && !nx) {
				if (bad < 4)
					report(false, "page %#lx (level %d) is writable and executable", a, level);
				bad++;
			}
			if (!nx) {
				uint64_t size = level == 1 ? PAGE_SIZE : LARGE_PAGE_SIZE;
				uint64_t pa = e & PTE_ADDR & ~(size - 1);
				for (uint64_t off = 0; off < size; off += PAGE_SIZE)
					check_alias(a + off, pa + off);
			}
			continue;
		}
		bad += audit(P2V(e & PTE_ADDR), level - 1, a, nx, leaves);
	}
	return bad;
}

static void test_wx_audit(void)
{
	unsigned leaves = 0;
	lp_area_leaves = aliases_checked = aliases_writable = 0;
	unsigned bad = audit(P2V(read_cr3() & PTE_ADDR), 4, 0, 0, &leaves);
	report(bad == 0, "none of %u mapped pages is writable and executable", leaves);
	report(aliases_checked && aliases_writable == 0, "none of the %u executable pages is writable through its "
	       "direct-map alias (%u are)", aliases_checked, aliases_writable);
	report(lp_area_leaves == lp_mem_mapped_pages(), "the audit covered the %u pages of the livepatch payload area "
	       "(%u mapped)", lp_area_leaves, lp_mem_mapped_pages());
	report(paging_lookup(0, NULL) == NULL && paging_lookup(TRAMP_PHYS, NULL) == NULL,
	       "low memory (NULL, the AP trampoline) is unmapped");
}
KTEST("mm.wx_audit", test_wx_audit);

/*
 * arch/x86/paging.c — the final page tables: W^X kernel image, NX direct
 * map, guarded stacks.
 *
 * The kernel image is mapped section by section from the table below; the
 * direct map gives every physical frame a second, non-executable address,
 * in which the frames of .text and .rodata are read-only too, so no mapping
 * anywhere lets kernel text be written (the patch core writes through
 * private aliases of its own, patch/). Frames made executable later (the
 * livepatch payload area) lose W in the direct map the same way
 * (paging_direct_set_writable).
 */
#include "arch/x86/cpu.h"
#include "arch/x86/paging.h"
#include "arch/x86/pmm.h"
#include "kernel/bootinfo.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"

static const struct kmap {
	const char *name;
	char *start, *end;
	uint64_t flags;
} kmap[] = {
	{ "text",   __text_start,   __text_end,   PTE_P | PTE_G },
	{ "rodata", __rodata_start, __rodata_end, PTE_P | PTE_G | PTE_NX },
	{ "data",   __data_start,   __kernel_end, PTE_P | PTE_G | PTE_W | PTE_NX },
};

static uint64_t *pml4;                  /* the shared root: boot, AP start-up */
static int roots_exist;                 /* no new kernel-half PML4 entries now */
static spinlock_t paging_lock = SPINLOCK_INIT("paging");
static uintptr_t stack_next = STACK_AREA_BASE;

static unsigned idx(uintptr_t va, int level) { return (va >> (12 + 9 * (level - 1))) & 511; }

/* The entry for va at level (1 = PT) in the tables, creating tables on the way. */
static uint64_t *walk_create(uintptr_t va, int level)
{
	uint64_t *table = pml4;
	for (int l = 4; l > level; l--) {
		uint64_t *e = &table[idx(va, l)];
		if (!(*e & PTE_P)) {
			if (l == 4 && idx(va, 4) >= 256 && roots_exist)
				panic("paging: %#lx needs a new PML4 entry, but per-CPU roots already "
				      "copied the kernel half", va);
			*e = pmm_alloc_page() | PTE_P | PTE_W;
		}
		else if (*e & PTE_PS)
			panic("paging: %#lx is inside a large page", va);
		table = P2V(*e & PTE_ADDR);
	}
	return &table[idx(va, level)];
}

uint64_t *paging_lookup(uintptr_t va, int *level)
{
	uint64_t *table = (uint64_t *)P2V(read_cr3() & PTE_ADDR);
	for (int l = 4; l >= 1; l--) {
		uint64_t *e = &table[idx(va, l)];
		if (!(*e & PTE_P))
			return NULL;
		if (l == 1 || (*e & PTE_PS)) {
			if (level)
				*level = l;
			return e;
		}
		table = P2V(*e & PTE_ADDR);
	}
	return NULL;
}

static void map_locked(uintptr_t va, uint64_t pa, size_t size, uint64_t flags)
{
	for (size_t off = 0; off < size; off += PAGE_SIZE)
		*walk_create(va + off, 1) = ((pa + off) & PTE_ADDR) | flags;
}

void paging_map(uintptr_t va, uint64_t pa, size_t size, uint64_t flags)
{
	spin_lock(&paging_lock);
	map_locked(va, pa, size, flags);
	spin_unlock(&paging_lock);
}

void paging_unmap(uintptr_t va, size_t size)
{
	spin_lock(&paging_lock);
	for (size_t off = 0; off < size; off += PAGE_SIZE) {
		uint64_t *e = walk_create(va + off, 1);
		*e = 0;
		invlpg((void *)(va + off));
	}
	spin_unlock(&paging_lock);
}

bool paging_direct_split(uint64_t pa)
{
	uintptr_t va = (uintptr_t)P2V(pa & PTE_ADDR);
	bool split = false;
	spin_lock(&paging_lock);
	uint64_t *pde = walk_create(va, 2);
	if (*pde & PTE_PS) {
		/* A table of 512 entries for the same frames with the same
		 * rights, filled before one release store replaces the 2 MiB
		 * leaf: a walker sees the old leaf or the whole table. */
		uint64_t base = *pde & PTE_ADDR & ~(LARGE_PAGE_SIZE - 1);
		uint64_t flags = *pde & (PTE_P | PTE_W | PTE_G | PTE_NX | PTE_PCD | PTE_PWT);
		uint64_t pt = pmm_alloc_page();
		uint64_t *t = P2V(pt);
		for (unsigned i = 0; i < 512; i++)
			t[i] = (base + (uint64_t)i * PAGE_SIZE) | flags;
		__atomic_store_n(pde, pt | PTE_P | PTE_W, __ATOMIC_RELEASE);
		split = true;
	}
	spin_unlock(&paging_lock);
	return split;
}

void paging_direct_set_writable(uint64_t pa, int writable)
{
	uintptr_t va = (uintptr_t)P2V(pa & PTE_ADDR);
	spin_lock(&paging_lock);
	uint64_t *e = walk_create(va, 1);       /* panics if not split */
	*e = writable ? *e | PTE_W : *e & ~PTE_W;
	spin_unlock(&paging_lock);
	invlpg((void *)va);
}

/* Is the physical range [pa, pa+len) RAM or ACPI data according to the map? */
static int is_ram(uint64_t pa, uint64_t len)
{
	for (unsigned i = 0; i < bootinfo.n_mmap; i++) {
		const struct mmap_entry *e = &bootinfo.mmap[i];
		if (e->type == MMAP_RESERVED || e->type == MMAP_BAD)
			continue;
		if (pa < e->base + e->len && pa + len > e->base)
			return 1;
	}
	return 0;
}

static void map_direct(uint64_t end)
{
	uint64_t kimg_lo = KIMG_V2P(__text_start) & ~(LARGE_PAGE_SIZE - 1);
	uint64_t kimg_hi = KIMG_V2P(__kernel_end);
	uint64_t ro_lo = KIMG_V2P(__text_start), ro_hi = KIMG_V2P(__rodata_end);

	for (uint64_t pa = 0; pa < end; pa += LARGE_PAGE_SIZE) {
		uint64_t flags = PTE_P | PTE_W | PTE_G | PTE_NX;
		if (!is_ram(pa, LARGE_PAGE_SIZE))
			flags |= PTE_PCD | PTE_PWT;     /* MMIO (APIC, IOAPIC, ...): uncached */
		if (pa + LARGE_PAGE_SIZE > kimg_lo && pa < kimg_hi) {
			/* Split: the image's text and rodata frames are read-only here. */
			for (uint64_t p = pa; p < pa + LARGE_PAGE_SIZE; p += PAGE_SIZE) {
				uint64_t f = flags;
				if (p >= ro_lo && p < ro_hi)
					f &= ~PTE_W;
				*walk_create(DIRECT_MAP_BASE + p, 1) = p | f;
			}
			continue;
		}
		*walk_create(DIRECT_MAP_BASE + pa, 2) = pa | flags | PTE_PS;
	}
}

void paging_init(void)
{
	pml4 = P2V(pmm_alloc_page());

	for (unsigned i = 0; i < sizeof(kmap) / sizeof(kmap[0]); i++) {
		const struct kmap *k = &kmap[i];
		uintptr_t s = (uintptr_t)k->start, e = (uintptr_t)k->end;
		if ((s | e) & (PAGE_SIZE - 1))
			panic("paging: section %s [%#lx, %#lx) is not page aligned", k->name, s, e);
		map_locked(s, KIMG_V2P(s), e - s, k->flags);
	}

	uint64_t end = pmm_top_of_ram();
	if (end < 0x100000000ull)
		end = 0x100000000ull;           /* the 32-bit MMIO hole, too */
	end = (end + LARGE_PAGE_SIZE - 1) & ~(LARGE_PAGE_SIZE - 1);
	map_direct(end);

	/* Order: load the new tables first, then turn on global pages (setting
	 * CR4.PGE also flushes any global entry). CR0.WP and EFER.NXE are
	 * already on (boot/entry32.asm). */
	write_cr3(V2P(pml4));
	write_cr4(read_cr4() | CR4_PGE);
	if (!(read_cr0() & CR0_WP) || !(rdmsr(MSR_EFER) & EFER_NXE))
		panic("paging: CR0.WP or EFER.NXE is off");
	printk("paging: W^X tables live (text RX, rodata R, data RW+NX), direct map %lu GiB",
	       end >> 30);
}

uint64_t paging_cr3(void)
{
	return V2P(pml4);
}

void paging_enter_cpu_root(struct percpu *pc)
{
	spin_lock(&paging_lock);
	roots_exist = 1;
	uint64_t *root = P2V(pmm_alloc_page());
	for (int i = 256; i < 512; i++)
		root[i] = pml4[i];
	/* The private slot: PDPT -> PD -> one page table (2 MiB of window). */
	uint64_t pdpt = pmm_alloc_page(), pd = pmm_alloc_page(), pt = pmm_alloc_page();
	root[idx(POKE_AREA_BASE, 4)] = pdpt | PTE_P | PTE_W;
	((uint64_t *)P2V(pdpt))[idx(POKE_AREA_BASE, 3)] = pd | PTE_P | PTE_W;
	((uint64_t *)P2V(pd))[idx(POKE_AREA_BASE, 2)] = pt | PTE_P | PTE_W;
	pc->poke_pt = P2V(pt);
	pc->cr3 = V2P(root);
	spin_unlock(&paging_lock);
	write_cr3(pc->cr3);
}

_Static_assert(POKE_WINDOWS * 2 <= 512, "the poke windows fit the private page table");

void *poke_window_map(unsigned slot, uint64_t pa0, uint64_t pa1)
{
	uint64_t *pt = this_cpu()->poke_pt;
	uintptr_t va = POKE_AREA_BASE + (uintptr_t)slot * 2 * PAGE_SIZE;
	unsigned i = idx(va, 1);
	/* Writable, never executable, not global: a local INVLPG drops it. */
	pt[i] = (pa0 & PTE_ADDR) | PTE_P | PTE_W | PTE_NX;
	pt[i + 1] = pa1 ? (pa1 & PTE_ADDR) | PTE_P | PTE_W | PTE_NX : 0;
	invlpg((void *)va);
	invlpg((void *)(va + PAGE_SIZE));
	return (void *)va;
}

void poke_window_unmap(unsigned slot)
{
	uint64_t *pt = this_cpu()->poke_pt;
	uintptr_t va = POKE_AREA_BASE + (uintptr_t)slot * 2 * PAGE_SIZE;
	unsigned i = idx(va, 1);
	pt[i] = pt[i + 1] = 0;
	invlpg((void *)va);
	invlpg((void *)(va + PAGE_SIZE));
}

uintptr_t stack_alloc(size_t size, uintptr_t *lo)
{
	size = (size + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
	spin_lock(&paging_lock);
	uintptr_t base = stack_next + PAGE_SIZE;        /* guard page stays unmapped */
	stack_next = base + size;
	for (size_t off = 0; off < size; off += PAGE_SIZE)
		*walk_create(base + off, 1) = pmm_alloc_page() | PTE_P | PTE_W | PTE_G | PTE_NX;
	spin_unlock(&paging_lock);
	if (lo)
		*lo = base;
	return base + size;
}

/*
 * clients/livepatch/elf_link.c — lp_link(): an ELF64 relocatable object
 * (a payload, clients/livepatch/payload.h) checked, laid out, relocated
 * against itself and the kernel, and mapped W^X in the payload area.
 *
 * Order, so that a refusal leaves nothing behind:
 *   1. headers: ELF64 LSB ET_REL EM_X86_64; every section, the symbol
 *      table and every name inside the image
 *   2. layout: SHF_ALLOC sections by kind (text: EXECINSTR, data: WRITE,
 *      ro: the rest), each kind on pages of its own, then the sorted
 *      function starts (ro); the address the area will hand out is known
 *      now (lp_mem_map gives the next range), so every address is final
 *   3. symbols: the payload's own (section address + value), undefined
 *      ones in the kernel's text table, then its data table
 *   4. relocations into SHF_ALLOC sections, computed and range-checked
 *      without writing anything
 *   5. .livepatch.name / .funcs / .hooks, with the relocated values
 *   6. only now: map RW+NX, copy, relocate for real, seal (text RX,
 *      ro R, data RW+NX), register the text (patch/exec_regions.h)
 * Kernel text is only read (symbol lookups), never written.
 *
 * One link at a time: the callers (boot, the tests, the console) are
 * serialised; the scratch state below is static (a payload's symbol
 * values do not fit a kernel stack).
 */
#include <stdarg.h>
#include "clients/livepatch/elf64.h"
#include "clients/livepatch/livepatch.h"
#include "clients/livepatch/lp_mem.h"
#include "arch/x86/layout.h"
#include "arch/x86/pmm.h"
#include "kernel/errno.h"
#include "kernel/format.h"
#include "kernel/ksyms.h"
#include "kernel/string.h"
#include "patch/exec_regions.h"

#define LINK_MAX_SECTIONS 512
#define LINK_MAX_SYMS     4096

/* Memory: a payload may take at most LINK_MAX_PAGES frames, and must leave
 * LINK_RESERVE_PAGES of the physical allocator free (pmm_alloc_page
 * panics when it runs dry: the rest of the kernel must keep working). */
#define LINK_MAX_PAGES     ((64u << 20) / PAGE_SIZE)
#define LINK_RESERVE_PAGES ((4u << 20) / PAGE_SIZE)

#define SYM_UNPLACED (1u << 0)  /* defined in a section that is not loaded */
#define SYM_KERNEL   (1u << 1)  /* resolved in the kernel */

extern char __nopatch_start[], __nopatch_end[];        /* linker.ld */

static struct link {
	const char *module;
	const uint8_t *img;
	size_t len;
	const struct elf64_ehdr *eh;
	const struct elf64_shdr *sh;
	unsigned shnum;
	const char *shstr;
	size_t shstr_len;
	unsigned symtab;
	const struct elf64_sym *sym;
	unsigned nsyms;
	const char *str;
	size_t str_len;
	uint64_t kind_size[3];                  /* by enum lp_mem_kind */
	uint64_t sec_off[LINK_MAX_SECTIONS];    /* inside its kind */
	uint8_t sec_kind[LINK_MAX_SECTIONS];
	uint64_t sec_addr[LINK_MAX_SECTIONS];   /* 0: not loaded */
	uint64_t sym_val[LINK_MAX_SYMS];
	uint8_t sym_flags[LINK_MAX_SYMS];
	uint64_t fn_off;                        /* the function starts, in ro */
	unsigned n_fn;
	size_t pages[3];
	uintptr_t base;
	int name_sec, funcs_sec, hooks_sec;
	char *why;
	size_t why_len;
} L;

__attribute__((format(printf, 2, 3)))
static int fail(int code, const char *fmt, ...)
{
	if (L.why && L.why_len) {
		int n = snprintf(L.why, L.why_len, "%s: ", L.module);
		if (n < 0 || (size_t)n >= L.why_len)
			n = 0;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(L.why + n, L.why_len - n, fmt, ap);
		va_end(ap);
	}
	return -code;
}

/* The NUL-terminated string at off of a table of len bytes, or NULL. */
static const char *str_at(const char *tab, size_t len, uint64_t off)
{
	if (off >= len)
		return NULL;
	for (uint64_t i = off; i < len; i++)
		if (!tab[i])
			return tab + off;
	return NULL;
}

static const char *sec_name(unsigned i)
{
	const char *n = str_at(L.shstr, L.shstr_len, L.sh[i].sh_name);
	return n ? n : "?";
}

static bool in_image(uint64_t off, uint64_t size)
{
	return off <= L.len && size <= L.len - off;
}

static bool is_loaded(unsigned i)
{
	return (L.sh[i].sh_flags & SHF_ALLOC) && L.sh[i].sh_size;
}

/* --- 1. headers ------------------------------------------------------- */

static int check_headers(void)
{
	L.eh = (const struct elf64_ehdr *)L.img;
	const struct elf64_ehdr *e = L.eh;
	if (L.len < sizeof(*e) || memcmp(e->e_ident, "\x7f" "ELF", 4))
		return fail(LP_ENOT_ELF, "no ELF header (%zu bytes, first byte %#x)", L.len,
			    L.len ? L.img[0] : 0);
	if (e->e_ident[EI_CLASS] != ELFCLASS64 || e->e_ident[EI_DATA] != ELFDATA2LSB)
		return fail(LP_ENOT_ELF, "not ELF64 little-endian (class %u, data %u)",
			    e->e_ident[EI_CLASS], e->e_ident[EI_DATA]);
	if (e->e_type != ET_REL)
		return fail(LP_ENOT_ELF, "e_type %u is not ET_REL (a relocatable object, gcc -c)", e->e_type);
	if (e->e_machine != EM_X86_64)
		return fail(LP_EMACHINE, "e_machine %u is not EM_X86_64 (%u)", e->e_machine, EM_X86_64);
	if (e->e_shentsize != sizeof(struct elf64_shdr) || !e->e_shnum
	    || !in_image(e->e_shoff, (uint64_t)e->e_shnum * sizeof(struct elf64_shdr)))
		return fail(LP_EMALFORMED, "section headers (%u of %u bytes at %#lx) outside the %zu-byte image",
			    e->e_shnum, e->e_shentsize, e->e_shoff, L.len);
	if (e->e_shnum > LINK_MAX_SECTIONS)
		return fail(LP_ETOO_MANY, "%u sections, at most %u", e->e_shnum, LINK_MAX_SECTIONS);
	L.sh = (const struct elf64_shdr *)(L.img + e->e_shoff);
	L.shnum = e->e_shnum;
	for (unsigned i = 0; i < L.shnum; i++)
		if (L.sh[i].sh_type != SHT_NOBITS && !in_image(L.sh[i].sh_offset, L.sh[i].sh_size))
			return fail(LP_EMALFORMED, "section %u [%#lx, +%#lx) outside the %zu-byte image",
				    i, L.sh[i].sh_offset, L.sh[i].sh_size, L.len);
	if (e->e_shstrndx >= L.shnum || L.sh[e->e_shstrndx].sh_type != SHT_STRTAB)
		return fail(LP_EMALFORMED, "section name table %u is not a string table", e->e_shstrndx);
	L.shstr = (const char *)L.img + L.sh[e->e_shstrndx].sh_offset;
	L.shstr_len = L.sh[e->e_shstrndx].sh_size;
	L.symtab = 0;
	for (unsigned i = 0; i < L.shnum; i++) {
		if (!str_at(L.shstr, L.shstr_len, L.sh[i].sh_name))
			return fail(LP_EMALFORMED, "section %u: name offset %u outside the name table",
				    i, L.sh[i].sh_name);
		if (L.sh[i].sh_type == SHT_SYMTAB) {
			if (L.symtab)
				return fail(LP_EMALFORMED, "two symbol tables (sections %u and %u)", L.symtab, i);
			L.symtab = i;
		}
	}
	if (!L.symtab)
		return fail(LP_EMALFORMED, "no symbol table");
	const struct elf64_shdr *st = &L.sh[L.symtab];
	if (st->sh_entsize != sizeof(struct elf64_sym) || st->sh_size % sizeof(struct elf64_sym)
	    || st->sh_link >= L.shnum || L.sh[st->sh_link].sh_type != SHT_STRTAB)
		return fail(LP_EMALFORMED, "symbol table %s: entry size %lu or string table %u is wrong",
			    sec_name(L.symtab), st->sh_entsize, st->sh_link);
	L.nsyms = st->sh_size / sizeof(struct elf64_sym);
	if (L.nsyms > LINK_MAX_SYMS)
		return fail(LP_ETOO_MANY, "%u symbols, at most %u", L.nsyms, LINK_MAX_SYMS);
	L.sym = (const struct elf64_sym *)(L.img + st->sh_offset);
	L.str = (const char *)L.img + L.sh[st->sh_link].sh_offset;
	L.str_len = L.sh[st->sh_link].sh_size;
	for (unsigned i = 1; i < L.nsyms; i++) {
		const struct elf64_sym *s = &L.sym[i];
		if (!str_at(L.str, L.str_len, s->st_name))
			return fail(LP_EMALFORMED, "symbol %u: name offset %u outside the string table", i, s->st_name);
		if (s->st_shndx == SHN_COMMON)
			return fail(LP_EMALFORMED, "symbol '%s' is COMMON (build with -fno-common)",
				    L.str + s->st_name);
		if (s->st_shndx != SHN_UNDEF && s->st_shndx != SHN_ABS && s->st_shndx >= L.shnum)
			return fail(LP_EMALFORMED, "symbol '%s': section index %u of %u",
				    L.str + s->st_name, s->st_shndx, L.shnum);
	}
	return 0;
}

/* The section of that name, or -1; two of that name are refused (a second
 * .livepatch.funcs would be ignored silently). */
static int find_section(const char *name, int *sec)
{
	*sec = -1;
	for (unsigned i = 0; i < L.shnum; i++) {
		if (strcmp(sec_name(i), name))
			continue;
		if (*sec >= 0)
			return fail(LP_EMALFORMED, "two sections named %s (%d and %u)", name, *sec, i);
		*sec = i;
	}
	return 0;
}

static int find_payload_sections(void)
{
	int err = find_section(".livepatch.name", &L.name_sec);
	if (!err)
		err = find_section(".livepatch.funcs", &L.funcs_sec);
	if (!err)
		err = find_section(".livepatch.hooks", &L.hooks_sec);
	return err;
}

/* --- 2. layout -------------------------------------------------------- */

/* A function of the payload's text: STT_FUNC, of at least one byte, all of
 * them inside its executable section (only these count as function starts,
 * new bodies and hooks). */
static bool is_fn_sym(const struct elf64_sym *s)
{
	if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF || s->st_shndx >= L.shnum
	    || !is_loaded(s->st_shndx) || L.sec_kind[s->st_shndx] != LP_MEM_TEXT)
		return false;
	uint64_t size = L.sh[s->st_shndx].sh_size;
	return s->st_size && s->st_value <= size && s->st_size <= size - s->st_value;
}

static int lay_out(void)
{
	memset(L.kind_size, 0, sizeof(L.kind_size));
	for (unsigned i = 0; i < L.shnum; i++) {
		L.sec_addr[i] = 0;
		if (!is_loaded(i))
			continue;
		const struct elf64_shdr *s = &L.sh[i];
		if ((s->sh_flags & SHF_EXECINSTR) && (s->sh_flags & SHF_WRITE))
			return fail(LP_EMALFORMED, "section %s is writable and executable", sec_name(i));
		if ((s->sh_flags & SHF_EXECINSTR) && s->sh_type == SHT_NOBITS)
			return fail(LP_EMALFORMED, "section %s is executable but has no bytes (NOBITS)", sec_name(i));
		uint64_t align = s->sh_addralign ? s->sh_addralign : 1;
		if (align & (align - 1) || align > PAGE_SIZE)
			return fail(LP_EMALFORMED, "section %s: alignment %lu", sec_name(i), align);
		enum lp_mem_kind k = (s->sh_flags & SHF_EXECINSTR) ? LP_MEM_TEXT
				   : (s->sh_flags & SHF_WRITE) ? LP_MEM_DATA : LP_MEM_RO;
		L.sec_kind[i] = k;
		L.kind_size[k] = (L.kind_size[k] + align - 1) & ~(align - 1);
		L.sec_off[i] = L.kind_size[k];
		if (s->sh_size > LP_AREA_SIZE)
			return fail(LP_ENOMEM, "section %s of %#lx bytes", sec_name(i), s->sh_size);
		L.kind_size[k] += s->sh_size;
	}
	L.n_fn = 0;
	for (unsigned i = 1; i < L.nsyms; i++)
		if (is_fn_sym(&L.sym[i]))
			L.n_fn++;
	L.fn_off = (L.kind_size[LP_MEM_RO] + 7) & ~7ull;
	L.kind_size[LP_MEM_RO] = L.fn_off + (uint64_t)L.n_fn * sizeof(uintptr_t);
	size_t total = 0;
	for (int k = 0; k < 3; k++) {
		L.pages[k] = (L.kind_size[k] + PAGE_SIZE - 1) / PAGE_SIZE;
		total += L.pages[k];
	}
	/* Frames besides the payload's own, at worst: page tables of the area
	 * (one per 512 pages, plus a directory and a PDPT of each kind's
	 * range) and one page table per sealed page to split its 2 MiB
	 * direct-map page (lp_mem_seal). */
	size_t tables = total / 512 + 6, splits = L.pages[LP_MEM_TEXT] + L.pages[LP_MEM_RO];
	uint64_t need = (uint64_t)total + tables + splits, avail = pmm_free_count();
	if (need + LINK_RESERVE_PAGES > avail)
		return fail(LP_ENOMEM, "needs %lu free pages (%zu for the payload: %zu KiB text, %zu KiB ro, "
			    "%zu KiB data; %zu for page tables at worst) and %u in reserve, but %lu are free",
			    need, total, L.pages[0] * 4, L.pages[1] * 4, L.pages[2] * 4, tables + splits,
			    LINK_RESERVE_PAGES, avail);
	if (total > LINK_MAX_PAGES)
		return fail(LP_ENOMEM, "%zu pages (%zu KiB text, %zu KiB ro, %zu KiB data): a payload takes at "
			    "most %u pages (%u MiB)", total, L.pages[0] * 4, L.pages[1] * 4, L.pages[2] * 4,
			    LINK_MAX_PAGES, LINK_MAX_PAGES * (PAGE_SIZE / 1024) / 1024);
	L.base = lp_mem_next(total);
	if (!L.base)
		return fail(LP_ENOMEM, "%zu pages do not fit the payload area", total);
	uintptr_t kind_base[3] = { L.base, L.base + L.pages[0] * PAGE_SIZE,
				   L.base + (L.pages[0] + L.pages[1]) * PAGE_SIZE };
	for (unsigned i = 0; i < L.shnum; i++)
		if (is_loaded(i))
			L.sec_addr[i] = kind_base[L.sec_kind[i]] + L.sec_off[i];
	L.fn_off += kind_base[LP_MEM_RO];       /* now an address */
	return 0;
}

/* --- 3. symbols ------------------------------------------------------- */

static int resolve_symbols(void)
{
	L.sym_val[0] = 0;
	L.sym_flags[0] = 0;
	for (unsigned i = 1; i < L.nsyms; i++) {
		const struct elf64_sym *s = &L.sym[i];
		const char *name = L.str + s->st_name;
		L.sym_flags[i] = 0;
		if (s->st_shndx == SHN_UNDEF) {
			const struct ksym *all[2];
			unsigned nt = ksym_find_all(name, all, 2);
			if (nt > 1)
				return fail(LP_EAMBIGUOUS, "undefined symbol '%s' names %u kernel functions "
					    "(%#lx, %#lx%s): which one is meant is not known", name, nt,
					    all[0]->addr, all[1]->addr, nt > 2 ? ", ..." : "");
			const struct ksym *t = nt ? all[0] : NULL;
			unsigned nd = t ? 0 : ksym_data_count_named(name);
			if (nd > 1)
				return fail(LP_EAMBIGUOUS, "undefined symbol '%s' names %u kernel data symbols: "
					    "which one is meant is not known", name, nd);
			const struct ksym_data *d = t ? NULL : ksym_data_find(name);
			if (!t && !d)
				return fail(LP_EUNDEF_SYMBOL, "undefined symbol '%s' is neither the payload's "
					    "nor the kernel's", name);
			L.sym_val[i] = t ? t->addr : d->addr;
			L.sym_flags[i] = SYM_KERNEL;
		} else if (s->st_shndx == SHN_ABS) {
			L.sym_val[i] = s->st_value;
		} else if (!is_loaded(s->st_shndx)) {
			L.sym_val[i] = 0;
			L.sym_flags[i] = SYM_UNPLACED;
		} else {
			if (s->st_value > L.sh[s->st_shndx].sh_size)
				return fail(LP_EMALFORMED, "symbol '%s' at %#lx past the end of %s", name,
					    s->st_value, sec_name(s->st_shndx));
			L.sym_val[i] = L.sec_addr[s->st_shndx] + s->st_value;
		}
	}
	return 0;
}

/* --- 4. relocations ----------------------------------------------------- */

static const char *type_name(uint32_t t)
{
	switch (t) {
	case R_X86_64_64: return "R_X86_64_64";
	case R_X86_64_PC32: return "R_X86_64_PC32";
	case R_X86_64_PLT32: return "R_X86_64_PLT32";
	case R_X86_64_32S: return "R_X86_64_32S";
	default: return "?";
	}
}

/* The loader checks .livepatch.name and the entries of .livepatch.funcs
 * and .hooks in the image, before relocating: a relocation may not change
 * them afterwards, so only the pointer of each entry (new_addr, fn), as an
 * R_X86_64_64 exactly there, is relocated, and nothing of the name. */
static bool reloc_allowed_in_payload_section(unsigned t, uint32_t type, uint64_t off)
{
	if ((int)t == L.name_sec)
		return false;
	if ((int)t == L.funcs_sec)
		return type == R_X86_64_64
		       && off % sizeof(struct lp_func_desc) == __builtin_offsetof(struct lp_func_desc, new_addr);
	if ((int)t == L.hooks_sec)
		return type == R_X86_64_64
		       && off % sizeof(struct lp_hook_desc) == __builtin_offsetof(struct lp_hook_desc, fn);
	return true;
}

/* Every relocation into a loaded section: checked, and written when
 * stats is not NULL (the pages are mapped RW then). */
static int relocate(struct lp_link_stats *stats)
{
	for (unsigned r = 0; r < L.shnum; r++) {
		const struct elf64_shdr *rs = &L.sh[r];
		if (rs->sh_type != SHT_RELA && rs->sh_type != SHT_REL)
			continue;
		unsigned t = rs->sh_info;
		if (t >= L.shnum)
			return fail(LP_EMALFORMED, "relocation section %s applies to section %u of %u",
				    sec_name(r), t, L.shnum);
		if (!is_loaded(t))
			continue;               /* debug information: not loaded */
		if (rs->sh_type == SHT_REL)
			return fail(LP_ERELOC_TYPE, "section %s: REL relocations (without addend) for %s",
				    sec_name(r), sec_name(t));
		if (rs->sh_entsize != sizeof(struct elf64_rela) || rs->sh_size % sizeof(struct elf64_rela)
		    || rs->sh_link != L.symtab)
			return fail(LP_EMALFORMED, "relocation section %s: entry size %lu or symbol table %u",
				    sec_name(r), rs->sh_entsize, rs->sh_link);
		if (L.sh[t].sh_type == SHT_NOBITS)
			return fail(LP_EMALFORMED, "relocation section %s applies to %s, which has no bytes",
				    sec_name(r), sec_name(t));
		const struct elf64_rela *rel = (const struct elf64_rela *)(L.img + rs->sh_offset);
		size_t n = rs->sh_size / sizeof(*rel);
		for (size_t j = 0; j < n; j++) {
			uint32_t type = ELF64_R_TYPE(rel[j].r_info), si = ELF64_R_SYM(rel[j].r_info);
			uint64_t off = rel[j].r_offset;
			unsigned width = type == R_X86_64_64 ? 8 : 4;
			if (type != R_X86_64_64 && type != R_X86_64_PC32 && type != R_X86_64_PLT32
			    && type != R_X86_64_32S)
				return fail(LP_ERELOC_TYPE, "relocation type %u in %s at %s+%#lx: only "
					    "R_X86_64_PC32, PLT32, 64 and 32S are applied", type,
					    sec_name(r), sec_name(t), off);
			if (si >= L.nsyms || (si && (L.sym_flags[si] & SYM_UNPLACED)))
				return fail(LP_EMALFORMED, "%s at %s+%#lx: symbol %u is not loaded",
					    type_name(type), sec_name(t), off, si);
			if (off > L.sh[t].sh_size || width > L.sh[t].sh_size - off)
				return fail(LP_EMALFORMED, "%s at %s+%#lx: past the end of the section",
					    type_name(type), sec_name(t), off);
			if (!reloc_allowed_in_payload_section(t, type, off))
				return fail(LP_EMALFORMED, "%s at %s+%#lx: only an R_X86_64_64 at an entry's "
					    "new_addr or fn may be relocated in .livepatch.funcs and .hooks, and "
					    "nothing in .livepatch.name (they are checked before relocation)",
					    type_name(type), sec_name(t), off);
			uint64_t S = L.sym_val[si], P = L.sec_addr[t] + off;
			int64_t A = rel[j].r_addend;
			uint64_t v = type == R_X86_64_PC32 || type == R_X86_64_PLT32 ? S + A - P : S + A;
			if (width == 4 && (int64_t)v != (int64_t)(int32_t)v)
				return fail(LP_ERELOC_RANGE, "%s at %s+%#lx against '%s': %#lx does not fit "
					    "32 bits (sign-extended)", type_name(type), sec_name(t), off,
					    si ? L.str + L.sym[si].st_name : "(no symbol: absolute)", v);
			if (!stats)
				continue;
			if (width == 8) {
				memcpy((void *)P, &v, 8);
			} else {
				uint32_t v32 = (uint32_t)v;
				memcpy((void *)P, &v32, 4);
			}
			switch (type) {
			case R_X86_64_64: stats->abs64++; break;
			case R_X86_64_PC32: stats->pc32++; break;
			case R_X86_64_PLT32: stats->plt32++; break;
			default: stats->abs32s++; break;
			}
			if (L.sym_flags[si] & SYM_KERNEL)
				stats->to_kernel++;
			else
				stats->to_self++;
		}
	}
	return 0;
}

/* The 64-bit value at sec+off once relocated (an R_X86_64_64 there, or the
 * image's bytes), or 0 (no function's start) when several relocations
 * write there (the last would win). Used before anything is mapped. */
static uint64_t value_at(unsigned sec, uint64_t off)
{
	unsigned n = 0;
	uint64_t v = 0;
	for (unsigned r = 0; r < L.shnum; r++) {
		const struct elf64_shdr *rs = &L.sh[r];
		if (rs->sh_type != SHT_RELA || rs->sh_info != sec)
			continue;
		const struct elf64_rela *rel = (const struct elf64_rela *)(L.img + rs->sh_offset);
		for (size_t j = 0; j < rs->sh_size / sizeof(*rel); j++)
			if (rel[j].r_offset == off && ELF64_R_TYPE(rel[j].r_info) == R_X86_64_64) {
				v = L.sym_val[ELF64_R_SYM(rel[j].r_info)] + rel[j].r_addend;
				n++;
			}
	}
	if (n > 1)
		return 0;
	if (n == 0)
		memcpy(&v, L.img + L.sh[sec].sh_offset + off, 8);
	return v;
}

/* --- 5. the payload's own sections -------------------------------------- */


static bool is_fn_start(uint64_t addr)
{
	for (unsigned i = 1; i < L.nsyms; i++)
		if (is_fn_sym(&L.sym[i]) && L.sym_val[i] == addr)
			return true;
	return false;
}

static int parse_payload(struct lp_payload *p)
{
	if (L.name_sec < 0 || !is_loaded(L.name_sec) || L.sh[L.name_sec].sh_type == SHT_NOBITS)
		return fail(LP_ENO_NAME, "no .livepatch.name section (LIVEPATCH_NAME)");
	const char *name = (const char *)L.img + L.sh[L.name_sec].sh_offset;
	size_t nlen = L.sh[L.name_sec].sh_size;
	if (!str_at(name, nlen < LP_NAME_MAX ? nlen : LP_NAME_MAX, 0) || !name[0])
		return fail(LP_ENO_NAME, ".livepatch.name is empty, unterminated or %d bytes or more",
			    LP_NAME_MAX);
	if (lp_find(name))
		return fail(LP_EDUP_NAME, "a payload named '%s' is loaded already", name);
	strlcpy(p->name, name, sizeof(p->name));

	if (L.funcs_sec < 0 || !is_loaded(L.funcs_sec))
		return fail(LP_ENO_FUNCS, "no .livepatch.funcs entry (LIVEPATCH_FUNC)");
	const struct elf64_shdr *fs = &L.sh[L.funcs_sec];
	if (fs->sh_type == SHT_NOBITS || fs->sh_size % sizeof(struct lp_func_desc))
		return fail(LP_EMALFORMED, ".livepatch.funcs: %lu bytes, not a multiple of %zu",
			    fs->sh_size, sizeof(struct lp_func_desc));
	size_t nf = fs->sh_size / sizeof(struct lp_func_desc);
	if (nf > LP_MAX_FUNCS)
		return fail(LP_ETOO_MANY, "%zu functions, at most %d", nf, LP_MAX_FUNCS);
	const struct lp_func_desc *d = (const struct lp_func_desc *)(L.img + fs->sh_offset);
	for (size_t i = 0; i < nf; i++) {
		const char *old = d[i].old_name;
		if (!str_at(old, LP_SYM_MAX, 0) || !old[0])
			return fail(LP_EMALFORMED, ".livepatch.funcs[%zu]: old_name empty or unterminated", i);
		const struct ksym *all[2];
		unsigned nk = ksym_find_all(old, all, 2);
		if (nk > 1)
			return fail(LP_EAMBIGUOUS, "'%s' names %u kernel functions (%#lx, %#lx%s): which one is "
				    "replaced is not known", old, nk, all[0]->addr, all[1]->addr, nk > 2 ? ", ..." : "");
		const struct ksym *k = nk ? all[0] : NULL;
		if (!k || !k->fn_size)
			return fail(LP_ENO_FUNCTION, "'%s' is not a kernel function", old);
		if (k->addr >= (uintptr_t)__nopatch_start && k->addr < (uintptr_t)__nopatch_end)
			return fail(LP_ENOPATCH, "'%s' at %#lx is in the no-patch region [%#lx, %#lx)", old,
				    k->addr, (uintptr_t)__nopatch_start, (uintptr_t)__nopatch_end);
		if (k->fn_size < LP_PATCH_LEN)
			return fail(LP_EFUNC_TOO_SMALL, "'%s' at %#lx is %u bytes, less than the %d of a jmp",
				    old, k->addr, k->fn_size, LP_PATCH_LEN);
		for (size_t j = 0; j < i; j++)
			if (p->funcs[j].old_addr == k->addr)
				return fail(LP_EDUP_FUNC, "'%s' at %#lx is replaced twice (entries %zu and %zu)",
					    old, k->addr, j, i);
		if (d[i].expect_set > LP_EXPECT_BUILD)
			return fail(LP_EMALFORMED, "'%s': expect_set %u", old, d[i].expect_set);
		uint64_t nw = value_at(L.funcs_sec, i * sizeof(*d) + __builtin_offsetof(struct lp_func_desc, new_addr));
		if (!is_fn_start(nw))
			return fail(LP_EBAD_NEW, "the new body of '%s' (%#lx) is not a function of the payload's text",
				    old, nw);
		struct lp_func *f = &p->funcs[i];
		f->name = (const char *)(L.sec_addr[L.funcs_sec] + i * sizeof(*d));   /* valid once mapped */
		f->old_addr = k->addr;
		f->old_size = k->fn_size;
		f->new_addr = nw;
		memcpy(f->expect, d[i].expect, LP_PATCH_LEN);
		f->expect_set = d[i].expect_set;
		f->state = LP_FUNC_REVERTED;
	}
	if (!nf)
		return fail(LP_ENO_FUNCS, "no .livepatch.funcs entry (LIVEPATCH_FUNC)");
	p->nfuncs = nf;

	if (L.hooks_sec < 0 || !is_loaded(L.hooks_sec))
		return 0;
	const struct elf64_shdr *hs = &L.sh[L.hooks_sec];
	if (hs->sh_type == SHT_NOBITS || hs->sh_size % sizeof(struct lp_hook_desc))
		return fail(LP_EMALFORMED, ".livepatch.hooks: %lu bytes, not a multiple of %zu",
			    hs->sh_size, sizeof(struct lp_hook_desc));
	const struct lp_hook_desc *h = (const struct lp_hook_desc *)(L.img + hs->sh_offset);
	for (size_t i = 0; i < hs->sh_size / sizeof(*h); i++) {
		if (h[i].kind >= LP_HOOK_KINDS || p->hooks[h[i].kind])
			return fail(LP_EDUP_HOOK, ".livepatch.hooks[%zu]: kind %u unknown or given twice", i, h[i].kind);
		uint64_t fn = value_at(L.hooks_sec, i * sizeof(*h) + __builtin_offsetof(struct lp_hook_desc, fn));
		if (!is_fn_start(fn))
			return fail(LP_EBAD_NEW, "hook %u (%#lx) is not a function of the payload's text",
				    h[i].kind, fn);
		p->hooks[h[i].kind] = (void *)fn;
	}
	return 0;
}

/* --- 6. map, copy, relocate, seal, register ----------------------------- */

static void sort_starts(uintptr_t *a, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		uintptr_t v = a[i];
		unsigned j = i;
		for (; j && a[j - 1] > v; j--)
			a[j] = a[j - 1];
		a[j] = v;
	}
}

static int map_payload(struct lp_payload *p)
{
	size_t total = L.pages[0] + L.pages[1] + L.pages[2];
	uintptr_t va;
	int err = lp_mem_map(total, &va);
	if (err)
		return fail(-err, "%zu pages do not fit the payload area", total);
	if (va != L.base) {
		lp_mem_unmap(va, total);
		return fail(LP_ENOMEM, "the payload area gave %#lx, not the %#lx laid out", va, L.base);
	}
	for (unsigned i = 0; i < L.shnum; i++)
		if (is_loaded(i) && L.sh[i].sh_type != SHT_NOBITS)
			memcpy((void *)L.sec_addr[i], L.img + L.sh[i].sh_offset, L.sh[i].sh_size);
	err = relocate(&p->link);
	if (err) {                      /* checked already: cannot happen */
		lp_mem_unmap(va, total);
		return err;
	}
	uintptr_t *starts = (uintptr_t *)L.fn_off;
	unsigned n = 0;
	for (unsigned i = 1; i < L.nsyms; i++)
		if (is_fn_sym(&L.sym[i]))
			starts[n++] = L.sym_val[i];
	sort_starts(starts, n);
	err = lp_mem_seal(va, L.pages[0], LP_MEM_TEXT);
	if (!err)
		err = lp_mem_seal(va + L.pages[0] * PAGE_SIZE, L.pages[1], LP_MEM_RO);
	if (err)        /* a late CPU may still hold a writable translation: leak, never free */
		return fail(LP_ENOMEM, "the rights of [%#lx, %#lx) were not flushed on every CPU (%s): "
			    "the range and its frames are leaked, not freed while that CPU may use them",
			    va, va + total * PAGE_SIZE, err == -ETIMEDOUT ? "ETIMEDOUT" : "error");
	p->link.text_bytes = L.kind_size[LP_MEM_TEXT];
	p->link.ro_bytes = L.kind_size[LP_MEM_RO];
	p->link.data_bytes = L.kind_size[LP_MEM_DATA];
	p->text_start = va;
	p->text_end = va + L.pages[0] * PAGE_SIZE;
	p->mem_start = va;
	p->mem_end = va + total * PAGE_SIZE;
	const char *rname = (const char *)L.sec_addr[L.name_sec];
	if (exec_region_add(rname, p->text_start, p->text_end, starts, n)) {
		lp_mem_unmap(va, total);
		return fail(LP_ENOMEM, "no room to register the text [%#lx, %#lx) (%d regions at most)",
			    p->text_start, p->text_end, EXEC_REGIONS_MAX);
	}
	return 0;
}

int lp_link(const char *module, const void *img, size_t len, struct lp_payload *p, char *why, size_t why_len)
{
	memset(p, 0, sizeof(*p));
	memset(&L, 0, sizeof(L));
	L.module = module;
	L.img = img;
	L.len = len;
	L.why = why;
	L.why_len = why_len;
	if (why && why_len)
		why[0] = 0;
	strlcpy(p->module, module, sizeof(p->module));
	p->state = LP_LOADED;
	int err = check_headers();
	if (!err)
		err = find_payload_sections();
	if (!err)
		err = lay_out();
	if (!err)
		err = resolve_symbols();
	if (!err)
		err = relocate(NULL);
	if (!err)
		err = parse_payload(p);
	if (!err)
		err = map_payload(p);
	if (err) {
		memset(p, 0, sizeof(*p));
		strlcpy(p->module, module, sizeof(p->module));
	}
	return err;
}

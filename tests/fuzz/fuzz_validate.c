/*
 * tests/fuzz/fuzz_validate.c — libFuzzer target for the patch validator
 * (patch/validate.c, patch/site_table.h), built for the host with ASan and
 * UBSan against a synthetic .text (make fuzz; make test replays the corpus
 * in tests/fuzz/corpus/).
 *
 * Each input describes one world and a few requests in it:
 *   - where .text sits (a kernel address, low memory, address 0, or ending
 *     at the top of the address space) and whether env.unchecked_targets
 *     is set;
 *   - one change to the symbol table (a function dropped, grown over its
 *     int3 padding, or starting over its predecessor's);
 *   - up to 3 overwrites of the image's bytes (any bytes, or bytes copied
 *     from elsewhere in the image, anywhere);
 *   - a batch in flight: up to 3 sites (instructions of the view, outside
 *     the no-patch region), sorted, non-overlapping, whose live text shows
 *     how far the patcher got (nothing, the int3, the int3 and part of the
 *     tail, or all of the new bytes) while env.read shows their old bytes;
 *   - up to 3 requests added one by one to a batch (each accepted one
 *     becomes a site of the batch the next is checked against), then the
 *     request proper. Addresses, lengths, old and new bytes are either raw
 *     or built from templates (the view's bytes, a call/jmp/jcc to a
 *     function, an instruction, a site's tail, anywhere) so the fuzzer
 *     reaches accepted requests as easily as refused ones.
 *
 * Invariants (a violation prints the world and aborts, which libFuzzer
 * reports as a crash):
 *   - a refused request returns -PATCH_E* (not PATCH_EBATCH_FULL, which only
 *     the batch knows), and why is non-empty, NUL-terminated within its
 *     buffer and starts with the address;
 *   - an accepted request: inside .text, outside the no-patch region, no
 *     overlap with a site in flight or of its batch, at an instruction
 *     boundary of its function; old equals the view; old and new each
 *     decode (Zydis, here) to one instruction of exactly len bytes; emu
 *     says what the new bytes are (kind, len, cc, and target = the
 *     branch's absolute destination, computed here from the raw bytes);
 *     a branch lands in .text and, unless unchecked_targets, outside the
 *     no-patch region, not inside bytes 1..len-1 of the request, of a site
 *     of its batch or of a site in flight, on an instruction boundary of
 *     the function containing it (decoded here through the view), a call
 *     on a function's start, and no site of its batch branches into its
 *     tail;
 *   - the oracle: this file's own reading of validate.c's documented
 *     checks, in their order, gives the same result code and emu;
 *   - env.read is asked only for bytes inside .text and returns exactly
 *     the view (the image with every site in flight showing its old bytes),
 *     and site_overlapping() agrees with a linear search;
 *   - the batch array is not changed; no sanitizer report; the live text
 *     and every array handed to the validator are heap blocks of their
 *     exact size, so ASan sees any read past them.
 *
 * XPOKE_FUZZ_VERBOSE=1 prints every request and its result (to read what a
 * corpus file exercises).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <Zydis/Zydis.h>

#include "patch/site_table.h"
#include "patch/validate.h"
#include "strategies/int3/int3_check.h"

#include "tests/fuzz/text_image.h"

/* Where .text may sit. */
static const uintptr_t bases[4] = {
	0xffffffff81000000ul,           /* a kernel's */
	0x1000,                         /* low: backward branches wrap to the top */
	UINTPTR_MAX - TEXT_SIZE,        /* .text ends at the last address */
	0,                              /* at address 0 */
};

#define MAX_LIVE  3
#define MAX_BATCH 3
#define MAX_INSNS 256

/* The world of one input. */
static struct world {
	uintptr_t ts, te;               /* .text */
	uint8_t *text;                  /* live text: a heap block of TEXT_SIZE */
	uint8_t view[TEXT_SIZE];        /* what env.read must show */
	struct sym { uintptr_t start; uint64_t size; const char *name; } syms[NFUNCS];
	unsigned nsyms;
	char sym_change[64];
	struct poke_site *live;         /* the batch in flight: heap, live_nr sites */
	uint32_t live_nr;
	uint8_t live_phase[MAX_LIVE];
	struct poke_site batch[MAX_BATCH];
	uint32_t batch_nr;
	uint16_t insn_off[MAX_INSNS];   /* instruction starts of the view, every function */
	uint8_t insn_len[MAX_INSNS];
	bool insn_nopatch[MAX_INSNS];
	unsigned ninsns;
	struct patch_env env;
} W;

static ZydisDecoder dec;
static bool verbose;

/* --- reporting ------------------------------------------------------------ */

static void hex(const char *label, const uint8_t *b, size_t n)
{
	fprintf(stderr, "%s", label);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%02x", b[i]);
}

static void dump_site(const char *label, const struct poke_site *s)
{
	size_t n = s->len <= POKE_MAX_LEN ? s->len : POKE_MAX_LEN;
	fprintf(stderr, "  %s %#lx+%u", label, (unsigned long)s->addr, s->len);
	hex(" old ", s->old, n);
	hex(" new ", s->new, n);
	fprintf(stderr, " emu{kind %u len %u cc %u target %#lx}\n", s->emu.kind, s->emu.len, s->emu.cc,
		(unsigned long)s->emu.target);
}

static void dump_world(void)
{
	fprintf(stderr, "  .text %#lx..%#lx, unchecked_targets=%d, symbols: %s\n", (unsigned long)W.ts,
		(unsigned long)W.te, W.env.unchecked_targets, W.sym_change);
	for (uint32_t i = 0; i < W.live_nr; i++) {
		dump_site("in flight", &W.live[i]);
		hex("    live text ", W.text + (W.live[i].addr - W.ts), W.live[i].len);
		fprintf(stderr, " (phase %u)\n", W.live_phase[i]);
	}
	for (uint32_t i = 0; i < W.batch_nr; i++)
		dump_site("batch", &W.batch[i]);
	for (size_t i = 0, j; i < TEXT_SIZE; i = j) {      /* overwritten ranges */
		for (j = i; j < TEXT_SIZE && W.view[j] != image[j]; j++)
			;
		if (j > i) {
			hex("  overwritten: ", W.view + i, j - i);
			fprintf(stderr, " at +%#zx\n", i);
		} else {
			j++;
		}
	}
}

/* A request being checked, for the report. */
static const struct poke_site *cur_req;
static int cur_err;
static const char *cur_why;

static void __attribute__((noreturn, format(printf, 1, 2))) violated(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "\nfuzz_validate: INVARIANT VIOLATED: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	dump_world();
	if (cur_req) {
		dump_site("request", cur_req);
		fprintf(stderr, "  validator: %s (%d): '%s'\n", patch_errname(cur_err), cur_err,
			cur_why ? cur_why : "");
	}
	abort();
}

#define CHECK(cond, ...) do { if (!(cond)) violated(__VA_ARGS__); } while (0)

/* --- the view, decoded here ------------------------------------------------- */

static bool in_text(uintptr_t a)
{
	return a >= W.ts && a < W.te;
}

/* Length of the instruction at view offset off, decoding at most up to
 * limit (an offset); 0 if it does not decode. */
static unsigned insn_at(size_t off, size_t limit)
{
	ZydisDecodedInstruction insn;
	if (off >= limit ||
	    !ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, NULL, W.view + off, limit - off, &insn)))
		return 0;
	return insn.length;
}

static const struct sym *sym_of(uintptr_t a)
{
	for (unsigned i = 0; i < W.nsyms; i++)
		if (a >= W.syms[i].start && a - W.syms[i].start < W.syms[i].size)
			return &W.syms[i];
	return NULL;
}

/* Is a an instruction boundary of fn, decoding fn from its start through
 * the view and stopping at its end or at bytes that do not decode? */
static bool boundary(const struct sym *fn, uintptr_t a)
{
	size_t pc = fn->start - W.ts, end = pc + fn->size, want = a - W.ts;
	while (pc < want) {
		unsigned n = insn_at(pc, end);
		if (!n)
			return false;
		pc += n;
	}
	return pc == want;
}

static bool nopatch(uintptr_t a, size_t len)
{
	return a < W.ts + NOPATCH_END && a + len > W.ts + NOPATCH_START;
}

static bool overlaps(uintptr_t a, size_t len, const struct poke_site *s)
{
	return a < s->addr + s->len && a + len > s->addr;
}

static bool in_tail(uintptr_t t, const struct poke_site *s)
{
	return t > s->addr && t < s->addr + s->len;
}

/* --- the environment -------------------------------------------------------- */

static void env_read(const struct patch_env *env, uintptr_t addr, uint8_t *buf, size_t n)
{
	(void)env;
	CHECK(n >= 1 && in_text(addr) && n <= W.te - addr, "env.read(%#lx, %zu) outside .text",
	      (unsigned long)addr, n);
	memcpy(buf, W.text + (addr - W.ts), n);
	sites_overlay_old(W.live, W.live_nr, addr, buf, n);
	for (size_t i = 0; i < n; i++)
		CHECK(buf[i] == W.view[addr - W.ts + i], "env.read(%#lx, %zu): byte %#lx is %02x, the view has %02x",
		      (unsigned long)addr, n, (unsigned long)(addr + i), buf[i], W.view[addr - W.ts + i]);
}

static bool env_symbol(const struct patch_env *env, uintptr_t addr, uintptr_t *start, uint64_t *size,
		       const char **name)
{
	(void)env;
	const struct sym *s = sym_of(addr);
	if (!s)
		return false;
	*start = s->start;
	*size = s->size;
	*name = s->name;
	return true;
}

static bool env_protected(const struct patch_env *env, uintptr_t addr, size_t len, const char **what)
{
	(void)env;
	CHECK(len >= 1 && in_text(addr) && len <= W.te - addr, "protected_code(%#lx, %zu) outside .text",
	      (unsigned long)addr, len);
	if (!nopatch(addr, len))
		return false;
	const struct sym *s = sym_of(addr);
	*what = s ? s->name : "the no-patch region";
	return true;
}

static bool env_live_site(const struct patch_env *env, uintptr_t addr, size_t len, uintptr_t *site,
			  uint8_t *site_len)
{
	(void)env;
	CHECK(len >= 1 && in_text(addr) && len <= W.te - addr, "live_site(%#lx, %zu) outside .text",
	      (unsigned long)addr, len);
	const struct poke_site *s = site_overlapping(W.live, W.live_nr, addr, len), *lin = NULL;
	for (uint32_t i = 0; i < W.live_nr && !lin; i++)
		if (overlaps(addr, len, &W.live[i]))
			lin = &W.live[i];
	CHECK(s == lin, "site_overlapping(%#lx, %zu) found %#lx, a linear search %#lx", (unsigned long)addr, len,
	      (unsigned long)(s ? s->addr : 0), (unsigned long)(lin ? lin->addr : 0));
	if (s) {
		*site = s->addr;
		*site_len = s->len;
	}
	return s != NULL;
}

/* --- reading the input ------------------------------------------------------ */

struct input {
	const uint8_t *p;
	size_t n;
};

static unsigned u8(struct input *in)         /* 0 once the input is used up */
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static unsigned u16(struct input *in)
{
	unsigned lo = u8(in);
	return lo | u8(in) << 8;
}

static uint32_t u32(struct input *in)
{
	uint32_t lo = u16(in);
	return lo | (uint32_t)u16(in) << 16;
}

static uint64_t u64(struct input *in)
{
	uint64_t lo = u32(in);
	return lo | (uint64_t)u32(in) << 32;
}

static void take(struct input *in, uint8_t *dst, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (uint8_t)u8(in);
}

/* --- building the world ----------------------------------------------------- */

/* The symbol table, with at most one change: op >> 6 is 0 (none), 1 (a
 * function starts up to its predecessor's padding earlier, which moves
 * where its decoding meets the validator's read windows), 2 (a function has
 * no symbol) or 3 (a function's size covers its padding). */
static void build_symbols(unsigned op, unsigned arg)
{
	unsigned which = (op & 0x3f) % NFUNCS;
	W.nsyms = 0;
	snprintf(W.sym_change, sizeof(W.sym_change), "as built");
	for (unsigned i = 0; i < NFUNCS; i++) {
		uint64_t start = funcs[i].off, size = funcs[i].size;
		if (i == which && op >> 6 == 1 && i > 0) {
			unsigned k = 1 + arg % funcs[i - 1].pad;
			snprintf(W.sym_change, sizeof(W.sym_change), "%s starts %u byte(s) early", funcs[i].name, k);
			start -= k;
			size += k;
		}
		if (i == which && op >> 6 == 2) {
			snprintf(W.sym_change, sizeof(W.sym_change), "%s has none", funcs[i].name);
			continue;
		}
		if (i == which && op >> 6 == 3) {
			snprintf(W.sym_change, sizeof(W.sym_change), "%s covers its padding", funcs[i].name);
			size += funcs[i].pad;
		}
		W.syms[W.nsyms++] = (struct sym){ W.ts + start, size, funcs[i].name };
	}
}

static void list_insns(void)
{
	W.ninsns = 0;
	for (unsigned f = 0; f < NFUNCS; f++) {
		size_t pc = funcs[f].off, end = pc + funcs[f].size;
		unsigned n;
		while (pc < end && W.ninsns < MAX_INSNS && (n = insn_at(pc, end))) {
			W.insn_off[W.ninsns] = (uint16_t)pc;
			W.insn_len[W.ninsns] = (uint8_t)n;
			W.insn_nopatch[W.ninsns] = pc >= NOPATCH_START && pc < NOPATCH_END;
			W.ninsns++;
			pc += n;
		}
	}
}

/* The batch in flight: instructions of the view outside the no-patch
 * region, sorted and distinct; the live text shows how far the patcher got. */
struct live_pick {
	struct poke_site s;
	unsigned phase;
};

static int by_addr(const void *a, const void *b)
{
	const struct live_pick *x = a, *y = b;
	return x->s.addr < y->s.addr ? -1 : x->s.addr > y->s.addr;
}

static void build_live(struct input *in)
{
	struct live_pick pick[MAX_LIVE];
	unsigned want = u8(in) % (MAX_LIVE + 1), nr = 0;

	for (unsigned k = 0; k < want; k++) {
		unsigned which = u16(in), phase = u8(in);
		if (!W.ninsns)
			continue;
		unsigned i = which % W.ninsns;
		struct poke_site s = { .addr = W.ts + W.insn_off[i], .len = W.insn_len[i] };
		memcpy(s.old, W.view + W.insn_off[i], s.len);
		take(in, s.new, s.len);
		bool dup = W.insn_nopatch[i];
		for (unsigned j = 0; j < nr; j++)
			dup |= pick[j].s.addr == s.addr;
		if (!dup)
			pick[nr++] = (struct live_pick){ s, phase };
	}
	qsort(pick, nr, sizeof(pick[0]), by_addr);

	W.live_nr = nr;
	W.live = nr ? malloc(nr * sizeof(*W.live)) : NULL;
	for (unsigned i = 0; i < nr; i++) {
		const struct poke_site *s = &pick[i].s;
		uint8_t *t = W.text + (s->addr - W.ts);
		unsigned p = pick[i].phase;
		W.live[i] = *s;
		/* 0 published, 1 int3 written, 2 the int3 and k bytes of the
		 * tail, 3 every new byte (first byte written, not yet retired) */
		W.live_phase[i] = (uint8_t)(p & 3);
		if ((p & 3) == 1 || (p & 3) == 2)
			t[0] = INT3_INSN_OPCODE;
		if ((p & 3) == 2)
			memcpy(t + 1, s->new + 1, (p >> 2) % s->len);   /* 0..len-1 tail bytes */
		if ((p & 3) == 3)
			memcpy(t, s->new, s->len);
	}
}

static uintptr_t some_insn(struct input *in)
{
	unsigned pick = u16(in);
	return W.ts + (W.ninsns ? W.insn_off[pick % W.ninsns] : 0);
}

/* A place a branch may aim at (an offset from .text's start, wrapping). */
static uintptr_t some_target(struct input *in)
{
	unsigned mode = u8(in);
	switch (mode & 7) {
	case 0:
		return W.ts + funcs[u8(in) % NFUNCS].off;
	case 1:
	case 2:
		return some_insn(in);
	case 3: {
		uintptr_t a = some_insn(in);
		return a + (uintptr_t)(intptr_t)(int8_t)u8(in);
	}
	case 4:
		return W.ts - 32 + u16(in) % (TEXT_SIZE + 64);
	case 5:
		return u64(in);                         /* anywhere */
	default: {                                      /* into a site's tail */
		unsigned pick = u8(in), d = u8(in);
		if (mode & 1 && W.batch_nr) {
			const struct poke_site *s = &W.batch[pick % W.batch_nr];
			return s->addr + d % (s->len + 1);
		}
		if (W.live_nr) {
			const struct poke_site *s = &W.live[pick % W.live_nr];
			return s->addr + d % (s->len + 1);
		}
		return some_insn(in) + d % 8;
	}
	}
}

/* The canonical NOP of n bytes (1..15). */
static void nop_fill(uint8_t *b, unsigned n)
{
	static const uint8_t nops[10][9] = {
		{ 0 }, { 0x90 }, { 0x66, 0x90 }, { 0x0f, 0x1f, 0x00 }, { 0x0f, 0x1f, 0x40, 0x00 },
		{ 0x0f, 0x1f, 0x44, 0x00, 0x00 }, { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
		{ 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 }, { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
		{ 0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
	};
	if (n < 10) {
		memcpy(b, nops[n], n);
		return;
	}
	/* 10..15: 66 repeated, then cs nopw 0(%rax,%rax,1) */
	static const uint8_t tail[10] = { 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 };
	memset(b, 0x66, n - 10);
	memcpy(b + n - 10, tail, 10);
}

/* The length a template's instruction has (0: it takes the site's). */
static unsigned template_len(unsigned kind)
{
	static const uint8_t len[8] = { 0, CALL_INSN_SIZE, JMP32_INSN_SIZE, JMP8_INSN_SIZE, 2, 6, 0, RET_INSN_SIZE };
	return len[kind & 7];
}

/* The new bytes of a request at addr of len bytes, by template kind: raw,
 * call/jmp/jcc rel32 or rel8 to some target (kind >> 4: the condition),
 * a NOP of len bytes, or ret. Bytes past a shorter template are 90s. */
static void build_new(struct input *in, unsigned kind, uintptr_t addr, unsigned len, uint8_t *new)
{
	unsigned cc = kind >> 4, n = len <= POKE_MAX_LEN ? len : POKE_MAX_LEN, nat = template_len(kind);
	uint8_t b[POKE_MAX_LEN + 6];
	int32_t rel;

	memset(b, 0x90, sizeof(b));
	switch (kind & 7) {
	case 0:
		take(in, new, n);
		return;
	case 1: case 2: case 5:                         /* call, jmp, jcc rel32 */
		rel = (int32_t)(uint32_t)(some_target(in) - (addr + nat));
		if ((kind & 7) == 5) {
			b[0] = 0x0f;
			b[1] = (uint8_t)(0x80 | cc);
		} else {
			b[0] = (kind & 7) == 1 ? CALL_INSN_OPCODE : JMP32_INSN_OPCODE;
		}
		memcpy(b + nat - 4, &rel, 4);
		break;
	case 3: case 4:                                 /* jmp, jcc rel8 */
		b[0] = (kind & 7) == 3 ? JMP8_INSN_OPCODE : (uint8_t)(0x70 | cc);
		b[1] = (uint8_t)(some_target(in) - (addr + nat));
		break;
	case 6:
		if (n)
			nop_fill(b, n);
		break;
	default:
		b[0] = RET_INSN_OPCODE;
		break;
	}
	memcpy(new, b, n);
}

/* One request: address, length, new and old bytes. */
static void build_request(struct input *in, struct poke_site *s)
{
	unsigned amode = u8(in), lmode, kind, omode, n;
	uintptr_t addr;

	memset(s, 0, sizeof(*s));
	switch (amode & 3) {
	case 0:
	case 1:
		addr = some_insn(in);
		break;
	case 2:
		addr = some_insn(in);
		addr += (uintptr_t)(intptr_t)(int8_t)u8(in);
		break;
	default:
		addr = amode & 4 ? u64(in) : W.ts - 32 + u16(in) % (TEXT_SIZE + 64);
		break;
	}
	s->addr = addr;

	/* the length: raw (0..17), the template's, or the instruction's there */
	lmode = u8(in);
	kind = u8(in);
	if (lmode & 0x80) {
		s->len = (uint8_t)((lmode & 0x7f) % (POKE_MAX_LEN + 3));
	} else if (lmode & 0x40 && template_len(kind)) {
		s->len = (uint8_t)template_len(kind);
	} else {
		n = in_text(addr) ? insn_at(addr - W.ts, TEXT_SIZE) : 0;
		s->len = (uint8_t)(n ? n : 5);
	}
	n = s->len <= POKE_MAX_LEN ? s->len : POKE_MAX_LEN;
	build_new(in, kind, addr, s->len, s->new);

	/* the old bytes: raw, or the view's (one of them flipped, maybe) */
	omode = u8(in);
	if (omode & 0x80) {
		take(in, s->old, n);
	} else {
		for (unsigned i = 0; i < n; i++)
			s->old[i] = in_text(addr + i) ? W.view[addr + i - W.ts] : 0;
		if (omode & 0x40 && n)
			s->old[(omode & 0xf) % n] ^= (uint8_t)(u8(in) | 1);
	}
}

/* --- the oracle ------------------------------------------------------------- */

/*
 * What validate.c should answer, from its documented checks in their order
 * (validate.c's header comment), computed from this file's own view,
 * symbol table and decoder. 0 and *emu, or -PATCH_E*.
 */
/* Instructions that make up bytes[0..len) exactly (0: they do not). */
static unsigned whole_insns(const ZydisDecoder *dec, const uint8_t *bytes, size_t len)
{
	ZydisDecodedInstruction insn;
	unsigned n = 0;
	for (size_t off = 0; off < len; off += insn.length, n++)
		if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(dec, NULL, bytes + off, len - off, &insn)))
			return 0;
	return n;
}

static int oracle(const struct poke_site *s, const struct poke_site *batch, uint32_t nr, struct emu_insn *emu)
{
	uintptr_t a = s->addr;
	size_t len = s->len;
	ZydisDecodedInstruction insn;
	ZyanStatus st;

	if (len == 0)
		return -PATCH_ELEN_ZERO;
	if (len > POKE_MAX_LEN)
		return -PATCH_ELEN_TOO_LONG;
	if (!in_text(a))
		return -PATCH_EOUTSIDE_TEXT;
	if (len > W.te - a)
		return -PATCH_ESTRADDLES_TEXT_END;
	if (nopatch(a, len))
		return -PATCH_EPROTECTED;
	for (uint32_t i = 0; i < W.live_nr; i++)
		if (overlaps(a, len, &W.live[i]))
			return -PATCH_EBUSY;
	for (uint32_t i = 0; i < nr; i++)
		if (overlaps(a, len, &batch[i]))
			return -PATCH_EOVERLAP;
	const struct sym *fn = sym_of(a);
	if (!fn)
		return -PATCH_ENO_SYMBOL;
	if (!boundary(fn, a))
		return -PATCH_EMID_INSN;
	if (memcmp(s->old, W.view + (a - W.ts), len))
		return -PATCH_EOLD_MISMATCH;
	/* several whole instructions, old or new: no strategy modelled here
	 * takes them (patch_strategy.multi_insn) */
	if (whole_insns(&dec, s->old, len) > 1 || whole_insns(&dec, s->new, len) > 1)
		return -PATCH_EMULTI_INSN;

	st = ZydisDecoderDecodeInstruction(&dec, NULL, s->old, len, &insn);
	if (!ZYAN_SUCCESS(st))
		return -PATCH_EOLD_LENGTH;              /* too long, or no instruction at all */
	if (insn.length != len)
		return -PATCH_EOLD_MULTI;
	if (insn.mnemonic == ZYDIS_MNEMONIC_INT && insn.raw.imm[0].value.u == 3)
		return -PATCH_EOLD_INT3;
	/* can the old instruction fall through to the next one? */
	bool old_falls = insn.mnemonic != ZYDIS_MNEMONIC_JMP && insn.mnemonic != ZYDIS_MNEMONIC_RET &&
			 insn.mnemonic != ZYDIS_MNEMONIC_UD2 && insn.mnemonic != ZYDIS_MNEMONIC_INT3;
	bool at_end = a + len >= fn->start + fn->size;

	st = ZydisDecoderDecodeInstruction(&dec, NULL, s->new, len, &insn);
	if (st == ZYDIS_STATUS_NO_MORE_DATA)
		return -PATCH_ENEW_LENGTH;
	if (!ZYAN_SUCCESS(st))
		return -PATCH_ENEW_UNDECODABLE;
	if (insn.length != len)
		return -PATCH_ENEW_MULTI;

	/* what the #BP handler can emulate, told by the raw bytes */
	const uint8_t *b = s->new;
	int64_t rel = 0;
	*emu = (struct emu_insn){ .len = (uint8_t)len };
	if (insn.mnemonic == ZYDIS_MNEMONIC_NOP) {
		emu->kind = EMU_NOP;
		return !old_falls && at_end ? -PATCH_EFALLS_OFF_END : 0;
	}
	if (len == 1 && b[0] == RET_INSN_OPCODE) {
		emu->kind = EMU_RET;
		return 0;
	}
	if (len == 5 && (b[0] == CALL_INSN_OPCODE || b[0] == JMP32_INSN_OPCODE)) {
		int32_t r;
		memcpy(&r, b + 1, 4);
		rel = r;
		emu->kind = b[0] == CALL_INSN_OPCODE ? EMU_CALL : EMU_JMP;
	} else if (len == 2 && b[0] == JMP8_INSN_OPCODE) {
		rel = (int8_t)b[1];
		emu->kind = EMU_JMP;
	} else if (len == 2 && b[0] >= 0x70 && b[0] <= 0x7f) {
		rel = (int8_t)b[1];
		emu->kind = EMU_JCC;
		emu->cc = b[0] & 0xf;
	} else if (len == 6 && b[0] == 0x0f && b[1] >= 0x80 && b[1] <= 0x8f) {
		int32_t r;
		memcpy(&r, b + 2, 4);
		rel = r;
		emu->kind = EMU_JCC;
		emu->cc = b[1] & 0xf;
	} else {
		*emu = (struct emu_insn){ 0 };
		return -PATCH_ENOT_EMULATABLE;
	}
	uintptr_t t = a + len + (uintptr_t)rel;
	emu->target = t;
	if (emu->kind != EMU_JMP && !old_falls && at_end)
		return -PATCH_EFALLS_OFF_END;
	if (!in_text(t))
		return -PATCH_ETARGET_OUTSIDE_TEXT;
	if (W.env.unchecked_targets)
		return 0;
	if (in_tail(t, s))
		return -PATCH_ETARGET_IN_SITE;
	for (uint32_t i = 0; i < nr; i++)
		if (in_tail(t, &batch[i]))
			return -PATCH_ETARGET_IN_SITE;
	if (nopatch(t, 1))
		return -PATCH_ETARGET_PROTECTED;
	for (uint32_t i = 0; i < W.live_nr; i++)
		if (in_tail(t, &W.live[i]))
			return -PATCH_ETARGET_IN_SITE;
	const struct sym *tf = sym_of(t);
	if (!tf)
		return -PATCH_ETARGET_NO_FUNCTION;
	if (!boundary(tf, t))
		return -PATCH_ETARGET_MID_INSN;
	if (emu->kind == EMU_CALL && t != tf->start)
		return -PATCH_ECALL_NOT_FUNCTION;
	for (uint32_t i = 0; i < nr; i++) {
		uint8_t k = batch[i].emu.kind;
		if ((k == EMU_CALL || k == EMU_JMP || k == EMU_JCC) && in_tail(batch[i].emu.target, s))
			return -PATCH_ETARGET_IN_SITE;
	}
	return 0;
}

/* --- the invariants --------------------------------------------------------- */

static void check_refused(const struct poke_site *s, int err, const char *why)
{
	char at[32];
	CHECK(err <= -PATCH_ELEN_ZERO && err > -PATCH_ERR_END, "refusal code %d is not -PATCH_E*", err);
	CHECK(err != -PATCH_EBATCH_FULL, "the validator cannot know the batch is full");
	CHECK(memchr(why, 0, POKE_WHY_LEN) != NULL, "why is not NUL-terminated within its %d bytes", POKE_WHY_LEN);
	CHECK(why[0], "why is empty");
	snprintf(at, sizeof(at), "%#lx:", (unsigned long)s->addr);
	CHECK(!strncmp(why, at, strlen(at)), "why does not start with the address %s", at);
}

static void check_accepted(const struct poke_site *s, const struct poke_site *batch, uint32_t nr)
{
	uintptr_t a = s->addr;
	unsigned len = s->len;
	ZydisDecodedInstruction insn;

	/* where it is */
	CHECK(len >= 1 && len <= POKE_MAX_LEN, "accepted a length of %u", len);
	CHECK(in_text(a) && len <= W.te - a, "accepted a site outside .text");
	CHECK(!nopatch(a, len), "accepted a site in the no-patch region");
	for (uint32_t i = 0; i < W.live_nr; i++)
		CHECK(!overlaps(a, len, &W.live[i]), "accepted a site overlapping %#lx+%u in flight",
		      (unsigned long)W.live[i].addr, W.live[i].len);
	for (uint32_t i = 0; i < nr; i++)
		CHECK(!overlaps(a, len, &batch[i]), "accepted a site overlapping %#lx+%u of its batch",
		      (unsigned long)batch[i].addr, batch[i].len);
	const struct sym *fn = sym_of(a);
	CHECK(fn && boundary(fn, a), "accepted a site that is not an instruction boundary of a function");

	/* what is there and what it becomes */
	CHECK(!memcmp(s->old, W.view + (a - W.ts), len), "accepted old bytes that differ from the view");
	CHECK(ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, NULL, s->old, len, &insn)) && insn.length == len,
	      "accepted old bytes that are not one instruction of %u bytes", len);
	CHECK(ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, NULL, s->new, len, &insn)) && insn.length == len,
	      "accepted new bytes that are not one instruction of %u bytes", len);

	/* emu */
	const struct emu_insn *e = &s->emu;
	const uint8_t *b = s->new;
	CHECK(e->len == len, "emu.len %u for a site of %u bytes", e->len, len);
	uint64_t t = 0;
	switch (e->kind) {
	case EMU_NOP:
		CHECK(insn.mnemonic == ZYDIS_MNEMONIC_NOP, "emu says nop, Zydis says %s",
		      ZydisMnemonicGetString(insn.mnemonic));
		CHECK(e->target == 0 && e->cc == 0, "emu of a nop has a target or cc");
		return;
	case EMU_RET:
		CHECK(len == 1 && b[0] == RET_INSN_OPCODE, "emu says ret for other bytes");
		CHECK(e->target == 0 && e->cc == 0, "emu of a ret has a target or cc");
		return;
	case EMU_CALL:
	case EMU_JMP: {
		int32_t r;
		uint8_t op = e->kind == EMU_CALL ? CALL_INSN_OPCODE : JMP32_INSN_OPCODE;
		if (len == 5 && b[0] == op) {
			memcpy(&r, b + 1, 4);
			t = a + 5 + (uintptr_t)(intptr_t)r;
		} else {
			CHECK(e->kind == EMU_JMP && len == 2 && b[0] == JMP8_INSN_OPCODE, "emu says %s for other bytes",
			      e->kind == EMU_CALL ? "call" : "jmp");
			t = a + 2 + (uintptr_t)(intptr_t)(int8_t)b[1];
		}
		CHECK(e->cc == 0, "emu of a call/jmp has a cc");
		break;
	}
	case EMU_JCC: {
		int32_t r;
		if (len == 2 && b[0] >= 0x70 && b[0] <= 0x7f) {
			CHECK(e->cc == (b[0] & 0xf), "emu.cc %u for %02x", e->cc, b[0]);
			t = a + 2 + (uintptr_t)(intptr_t)(int8_t)b[1];
		} else {
			CHECK(len == 6 && b[0] == 0x0f && b[1] >= 0x80 && b[1] <= 0x8f, "emu says jcc for other bytes");
			CHECK(e->cc == (b[1] & 0xf), "emu.cc %u for 0f %02x", e->cc, b[1]);
			memcpy(&r, b + 2, 4);
			t = a + 6 + (uintptr_t)(intptr_t)r;
		}
		break;
	}
	default:
		violated("emu.kind %u", e->kind);
	}
	CHECK(e->target == t, "emu.target %#lx, the branch goes to %#lx", (unsigned long)e->target,
	      (unsigned long)t);

	/* where the branch lands */
	CHECK(in_text(t), "accepted a branch to %#lx, outside .text", (unsigned long)t);
	if (W.env.unchecked_targets)
		return;
	CHECK(!nopatch(t, 1), "accepted a branch into the no-patch region");
	CHECK(!in_tail(t, s), "accepted a branch into its own tail");
	for (uint32_t i = 0; i < nr; i++)
		CHECK(!in_tail(t, &batch[i]), "accepted a branch into the tail of %#lx+%u of its batch",
		      (unsigned long)batch[i].addr, batch[i].len);
	for (uint32_t i = 0; i < W.live_nr; i++)
		CHECK(!in_tail(t, &W.live[i]), "accepted a branch into the tail of %#lx+%u in flight",
		      (unsigned long)W.live[i].addr, W.live[i].len);
	const struct sym *tf = sym_of(t);
	CHECK(tf, "accepted a branch to %#lx, in no function", (unsigned long)t);
	CHECK(boundary(tf, t), "accepted a branch to %s+%#lx, not an instruction boundary", tf->name,
	      (unsigned long)(t - tf->start));
	CHECK(e->kind != EMU_CALL || t == tf->start, "accepted a call to %s+%#lx, not a function's start",
	      tf->name, (unsigned long)(t - tf->start));
	for (uint32_t i = 0; i < nr; i++) {
		uint8_t k = batch[i].emu.kind;
		CHECK(!((k == EMU_CALL || k == EMU_JMP || k == EMU_JCC) && in_tail(batch[i].emu.target, s)),
		      "accepted a site into whose tail %#lx of its batch branches", (unsigned long)batch[i].addr);
	}
}

/* Validate req as a member of W.batch[0..W.batch_nr), check everything;
 * true if accepted. */
static bool check_request(const struct poke_site *req)
{
	uint32_t nr = W.batch_nr;
	struct poke_site *site = malloc(sizeof(*site));
	struct poke_site *batch = nr ? malloc(nr * sizeof(*batch)) : NULL;
	char *why = malloc(POKE_WHY_LEN);
	struct emu_insn want_emu = { 0 };

	*site = *req;
	if (nr)
		memcpy(batch, W.batch, nr * sizeof(*batch));
	memset(why, 0, POKE_WHY_LEN);
	cur_req = site;
	cur_why = why;
	cur_err = patch_validate_site(&W.env, int3_check_site, site, batch, nr, why, POKE_WHY_LEN);
	int err = cur_err;

	CHECK(!nr || !memcmp(batch, W.batch, nr * sizeof(*batch)), "the validator changed the batch");
	CHECK(site->addr == req->addr && site->len == req->len && !memcmp(site->old, req->old, POKE_MAX_LEN) &&
	      !memcmp(site->new, req->new, POKE_MAX_LEN), "the validator changed the request");
	if (err)
		check_refused(site, err, why);
	else
		check_accepted(site, W.batch, nr);

	int want = oracle(site, W.batch, nr, &want_emu);
	CHECK(err == want, "the validator says %s, the oracle %s", patch_errname(err), patch_errname(want));
	CHECK(err || (site->emu.kind == want_emu.kind && site->emu.len == want_emu.len &&
		      site->emu.cc == want_emu.cc && site->emu.target == want_emu.target),
	      "emu{kind %u len %u cc %u target %#lx}, the oracle's {%u %u %u %#lx}", site->emu.kind, site->emu.len,
	      site->emu.cc, (unsigned long)site->emu.target, want_emu.kind, want_emu.len, want_emu.cc,
	      (unsigned long)want_emu.target);

	if (verbose) {
		size_t n = site->len <= POKE_MAX_LEN ? site->len : POKE_MAX_LEN;
		fprintf(stderr, "request %#lx+%u", (unsigned long)site->addr, site->len);
		hex(" old ", site->old, n);
		hex(" new ", site->new, n);
		fprintf(stderr, " batch %u: %s %s\n", nr, patch_errname(err), err ? why : "");
	}
	bool ok = err == 0;
	if (ok && W.batch_nr < MAX_BATCH)
		W.batch[W.batch_nr++] = *site;
	cur_req = NULL;
	free(site);
	free(batch);
	free(why);
	return ok;
}

/* The batch as smp_text_poke_batch_finish() publishes it: sorted by
 * sites_sort(), found by site_find() (the #BP handler's lookup) and
 * site_overlapping(), no site overlapping those before it. */
static void check_site_table(void)
{
	uint32_t nr = W.batch_nr;
	struct poke_site *sorted = nr ? malloc(nr * sizeof(*sorted)) : NULL;

	if (nr)
		memcpy(sorted, W.batch, nr * sizeof(*sorted));
	sites_sort(sorted, nr);
	for (uint32_t i = 0; i < nr; i++) {
		CHECK(!i || sorted[i - 1].addr < sorted[i].addr, "sites_sort: %#lx after %#lx",
		      (unsigned long)sorted[i].addr, (unsigned long)sorted[i - 1].addr);
		bool found = false;
		for (uint32_t j = 0; j < nr; j++)
			found |= !memcmp(&sorted[i], &W.batch[j], sizeof(sorted[i]));
		CHECK(found, "sites_sort: %#lx is not a site of the batch", (unsigned long)sorted[i].addr);
		const struct poke_site *s = &sorted[i];
		CHECK(site_find(sorted, nr, s->addr) == s, "site_find(%#lx) misses its site", (unsigned long)s->addr);
		CHECK(site_find(sorted, nr, s->addr + 1) == NULL || (i + 1 < nr && sorted[i + 1].addr == s->addr + 1),
		      "site_find(%#lx) finds a site", (unsigned long)(s->addr + 1));
		for (unsigned k = 0; k < s->len; k++)
			CHECK(site_overlapping(sorted, nr, s->addr + k, 1) == s, "site_overlapping(%#lx, 1) misses %#lx+%u",
			      (unsigned long)(s->addr + k), (unsigned long)s->addr, s->len);
	}
	for (uint32_t i = 0; i < nr; i++)
		CHECK(site_overlapping(sorted, i, sorted[i].addr, sorted[i].len) == NULL,
		      "site_overlapping: %#lx+%u overlaps an earlier site of an accepted batch",
		      (unsigned long)sorted[i].addr, sorted[i].len);
	free(sorted);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	verbose = getenv("XPOKE_FUZZ_VERBOSE") && *getenv("XPOKE_FUZZ_VERBOSE") == '1';
	/* the function table tiles the image */
	for (unsigned i = 0; i < NFUNCS; i++) {
		unsigned next = i + 1 < NFUNCS ? funcs[i + 1].off : TEXT_SIZE;
		if (funcs[i].off + funcs[i].size + funcs[i].pad != next) {
			fprintf(stderr, "fuzz_validate: function table: %s does not end where the next begins\n",
				funcs[i].name);
			abort();
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	unsigned cfg = u8(&in), symop = u8(&in), symarg = u8(&in);

	memset(&W, 0, sizeof(W));
	W.ts = bases[cfg & 3];
	W.te = W.ts + TEXT_SIZE;
	W.env = (struct patch_env){
		.text_start = W.ts, .text_end = W.te, .read = env_read, .symbol = env_symbol,
		.protected_code = env_protected, .live_site = env_live_site, .unchecked_targets = cfg & 4,
	};
	build_symbols(symop, symarg);

	memcpy(W.view, image, TEXT_SIZE);
	for (unsigned k = u8(&in) % 4; k; k--) {        /* overwrites: raw, or a copy of the image */
		unsigned off = u16(&in) % TEXT_SIZE, how = u8(&in), n = how & 0xf;
		if (n > TEXT_SIZE - off)
			n = TEXT_SIZE - off;
		if (how & 0x80) {
			unsigned from = u16(&in) % TEXT_SIZE;
			if (n > TEXT_SIZE - from)
				n = TEXT_SIZE - from;
			memmove(W.view + off, image + from, n);
		} else {
			take(&in, W.view + off, n);
		}
	}
	list_insns();
	W.text = malloc(TEXT_SIZE);
	memcpy(W.text, W.view, TEXT_SIZE);
	build_live(&in);

	if (verbose) {
		fprintf(stderr, "world: .text %#lx..%#lx, unchecked_targets=%d, symbols: %s, %u in flight\n",
			(unsigned long)W.ts, (unsigned long)W.te, W.env.unchecked_targets, W.sym_change, W.live_nr);
	}

	/* up to MAX_BATCH requests into the batch, then the request proper */
	struct poke_site req;
	for (unsigned k = u8(&in) % (MAX_BATCH + 1); k; k--) {
		build_request(&in, &req);
		check_request(&req);
	}
	build_request(&in, &req);
	check_request(&req);
	check_site_table();

	free(W.text);
	free(W.live);
	return 0;
}

/*
 * clients/poke/console_poke.c — console commands on any instruction of .text:
 * peek (bytes and their disassembly), poke (one site), poke-batch (several
 * sites, all or nothing), text-crc (a CRC-32 of .text, to show that a
 * refused request wrote nothing).
 *
 * For scripts, every poke and poke-batch ends in exactly one result line:
 *   poke: patched SYM+OFF (N rounds, T us)
 *   poke: refused PATCH_EXXX: <the core's reason, naming the address>
 *   poke: bad input: <what is wrong>          (refused before the core)
 * and a refusal writes nothing. The words are parsed by clients/poke/poke_parse.c;
 * the requests go through the patch core's own protocol
 * (smp_text_poke_batch_add + _finish, quiet: the refusal is ours to print).
 *
 * Thread context, the shell's own thread only: the batch storage is static.
 */
#include "arch/x86/paging.h"
#include "arch/x86/tsc.h"
#include "kernel/errno.h"
#include "kernel/format.h"
#include "kernel/ksyms.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "clients/poke/poke_parse.h"
#include "clients/poke/text_crc.h"
#include "patch/patch.h"

#define PEEK_MAX        256     /* bytes one peek shows */
#define BATCH_LINES     16      /* requests one poke-batch holds */

POKE_BATCH_DEFINE(console_batch, BATCH_LINES);
static struct poke_req batch_req[BATCH_LINES];

/* "CMD: bad input: <why>", and the shell is told it was reported. */
static int bad_input(const char *cmd, const char *why)
{
	printk("%s: bad input: %s", cmd, why);
	return -EREPORTED;
}

/* "<sym+0xoff>" of an address in .text ("<sym>" at offset 0 if bare). */
static char *where(char *buf, size_t size, uintptr_t addr, bool bare)
{
	const struct ksym *s = ksym_lookup(addr);
	if (!s)
		snprintf(buf, size, "<?>");
	else if (bare && addr == s->addr)
		snprintf(buf, size, "<%s>", ksym_name(s));
	else
		snprintf(buf, size, "<%s+%#lx>", ksym_name(s), (unsigned long)(addr - s->addr));
	return buf;
}

static void hex(char *out, size_t size, const uint8_t *b, unsigned n)
{
	size_t o = 0;
	out[0] = 0;
	for (unsigned i = 0; i < n && o + 3 < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%s%02x", i ? " " : "", b[i]);
}

/*
 * peek SYM[+OFF] LEN: one line per instruction that starts in the LEN bytes
 * from SYM+OFF (the last one shown whole even if it runs past them):
 *   address <sym+off> bytes  text  [<branch target>]
 * A byte that does not decode gets a line of its own ("(does not decode)"),
 * and decoding goes on from the next byte.
 */
static int cmd_peek(int argc, char **argv)
{
	char why[160], at[96], to[96], bytes[48], text[192];  /* text: room for any AVX-512 form */
	struct poke_where w;
	uint64_t len;

	if (argc != 3) {
		snprintf(why, sizeof(why), "expected SYM[+OFF] LEN, got %d word(s)", argc - 1);
		return bad_input("peek", why);
	}
	if (!poke_parse_where(argv[1], &w, why, sizeof(why)))
		return bad_input("peek", why);
	if (!parse_u64(argv[2], &len)) {
		snprintf(why, sizeof(why), "LEN '%s' is not a number (hex with 0x, or decimal)", argv[2]);
		return bad_input("peek", why);
	}
	if (len < 1 || len > PEEK_MAX) {
		snprintf(why, sizeof(why), "LEN %lu is outside 1..%u", (unsigned long)len, PEEK_MAX);
		return bad_input("peek", why);
	}
	uintptr_t text_end = (uintptr_t)__text_end, end = w.addr + len;
	if (end > text_end) {
		snprintf(why, sizeof(why), "%lu bytes from %s run past the end of .text (%lx)", (unsigned long)len,
			 poke_where_name(&w, at, sizeof(at)), text_end);
		return bad_input("peek", why);
	}

	for (uintptr_t pc = w.addr; pc < end;) {
		uint8_t buf[POKE_MAX_LEN];
		size_t avail = text_end - pc < sizeof(buf) ? text_end - pc : sizeof(buf);
		uint64_t target;
		memcpy(buf, (const void *)pc, avail);
		unsigned n = disasm_one_target(pc, buf, avail, text, sizeof(text), &target);
		where(at, sizeof(at), pc, false);
		hex(bytes, sizeof(bytes), buf, n ? n : 1);
		if (target)
			where(to, sizeof(to), target, true);
		printk("%016lx %-24s %-20s  %s%s%s", pc, at, bytes, text, target ? "  " : "", target ? to : "");
		pc += n ? n : 1;
	}
	return 0;
}
SHELL_CMD("peek", "SYM[+OFF] LEN", "bytes at SYM+OFF and their disassembly (LEN 1..256)", cmd_peek);

static int cmd_poke(int argc, char **argv)
{
	struct poke_req r;
	struct poke_stats st;
	char why[160], name[96];
	const struct patch_strategy *strategy;

	if (patch_strategy_option("poke", &argc, argv, &strategy))
		return -EREPORTED;
	if (!poke_parse_request(argc - 1, argv + 1, &r, why, sizeof(why)))
		return bad_input("poke", why);
	console_batch.quiet = true;
	console_batch.strategy = strategy;      /* NULL: the default */
	int err = smp_text_poke_batch_add(&console_batch, (void *)r.where.addr, r.old, r.new, r.len);
	if (!err)
		err = smp_text_poke_batch_finish(&console_batch);
	if (err) {
		smp_text_poke_batch_reset(&console_batch);
		printk("poke: refused %s: %s", patch_errname(err), console_batch.why);
		return -EREPORTED;
	}
	poke_get_stats(&st);
	printk("poke: patched %s (%u rounds, %lu us, strategy %s)", poke_where_name(&r.where, name, sizeof(name)),
	       st.rounds, tsc_to_us(st.cycles_total), patch_strategy_name(st.strategy));
	return 0;
}
SHELL_CMD("poke", "SYM[+OFF] OLD NEW [--strategy NAME]",
	  "replace one instruction (hex bytes; default strategy: patch.strategy)", cmd_poke);

/* Which line of the batch a refusal names: the core's why begins with the
 * site's address ("0xffffffff80118950: ..."). 0 if none matches. */
static unsigned line_of(unsigned n, const char *why)
{
	uintptr_t addr = 0;
	if (why[0] != '0' || why[1] != 'x')
		return 0;
	for (const char *p = why + 2; *p && *p != ':'; p++)
		addr = addr << 4 | (uintptr_t)(*p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
	for (unsigned i = n; i-- > 0;)         /* the later of two lines at one address */
		if (batch_req[i].where.addr == addr)
			return i + 1;
	return 0;
}

/*
 * poke-batch: read "SYM[+OFF] OLDHEX NEWHEX" lines until an empty one, then
 * apply them as one batch. Every line is read to the empty one even after a
 * bad one, so that no request is left over to run as a command; any bad or
 * refused line refuses the whole batch.
 */
static int cmd_poke_batch(int argc, char **argv)
{
	char line[SHELL_LINE_MAX], *words[SHELL_ARGS_MAX], prompt[24], why[160], name[96];
	unsigned n = 0, bad_line = 0;
	struct poke_stats st;

	(void)argv;
	if (argc != 1) {
		snprintf(why, sizeof(why), "poke-batch takes no arguments (one request per line follows)");
		return bad_input("poke-batch", why);
	}
	for (unsigned ln = 1;; ln++) {
		snprintf(prompt, sizeof(prompt), "poke-batch %u> ", ln);
		shell_read_line(prompt, line, sizeof(line));
		int words_n = shell_split(line, words, SHELL_ARGS_MAX);
		if (!words_n)
			break;
		if (bad_line)
			continue;
		if (n == BATCH_LINES) {
			snprintf(why, sizeof(why), "more than %u requests (the size of the batch)", BATCH_LINES);
			bad_line = ln;
		} else if (!poke_parse_request(words_n, words, &batch_req[n], why, sizeof(why)))
			bad_line = ln;
		else
			n++;
	}
	if (bad_line) {
		printk("poke-batch: bad input on line %u: %s; nothing written", bad_line, why);
		return -EREPORTED;
	}
	if (!n) {
		printk("poke-batch: no requests; nothing written");
		return 0;
	}

	console_batch.quiet = true;
	console_batch.strategy = NULL;          /* the default */
	for (unsigned i = 0; i < n; i++) {
		const struct poke_req *r = &batch_req[i];
		int err = smp_text_poke_batch_add(&console_batch, (void *)r->where.addr, r->old, r->new, r->len);
		if (err) {
			smp_text_poke_batch_reset(&console_batch);
			printk("poke-batch: refused line %u (%s) %s: %s; nothing written", i + 1,
			       poke_where_name(&r->where, name, sizeof(name)), patch_errname(err), console_batch.why);
			return -EREPORTED;
		}
	}
	int err = smp_text_poke_batch_finish(&console_batch);
	if (err) {
		/* The recheck of the old bytes, or the lines against each other
		 * (overlap, a branch into another's tail); why names the address. */
		smp_text_poke_batch_reset(&console_batch);
		unsigned line = line_of(n, console_batch.why);
		printk("poke-batch: refused line %u (%s) %s: %s; nothing written", line,
		       line ? poke_where_name(&batch_req[line - 1].where, name, sizeof(name)) : "?",
		       patch_errname(err), console_batch.why);
		return -EREPORTED;
	}
	poke_get_stats(&st);
	printk("poke-batch: patched %u site(s) (%u rounds, %lu us)", n, st.rounds, tsc_to_us(st.cycles_total));
	return 0;
}
SHELL_CMD("poke-batch", "", "read SYM[+OFF] OLD NEW lines up to an empty one; apply them as one batch",
	  cmd_poke_batch);

/* text-crc: CRC-32 of [__text_start, __text_end) (text_crc.h). */
static int cmd_text_crc(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	uintptr_t start = (uintptr_t)__text_start, end = (uintptr_t)__text_end;
	uint32_t crc = text_crc();
	printk("text-crc: 0x%08x (.text %lx..%lx, %lu bytes)", crc, start, end, (unsigned long)(end - start));
	return 0;
}
SHELL_CMD("text-crc", "", "CRC-32 of .text (compare it across requests that were refused)", cmd_text_crc);

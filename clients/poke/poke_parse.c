/*
 * clients/poke/poke_parse.c — see poke_parse.h.
 */
#include "kernel/format.h"
#include "kernel/string.h"
#include "clients/poke/poke_parse.h"

#define SYM_NAME_MAX 128

bool poke_parse_where(const char *arg, struct poke_where *w, char *why, size_t why_len)
{
	char name[SYM_NAME_MAX];
	const char *plus = strchr(arg, '+');
	size_t n = plus ? (size_t)(plus - arg) : strlen(arg);

	if (n == 0) {
		snprintf(why, why_len, "'%s': no symbol name before the offset", arg);
		return false;
	}
	if (n >= sizeof(name)) {
		snprintf(why, why_len, "symbol name of %zu characters: no symbol is that long", n);
		return false;
	}
	memcpy(name, arg, n);
	name[n] = 0;
	w->sym = ksym_find(name);
	if (!w->sym) {
		snprintf(why, why_len, "unknown symbol '%s' (not in the kernel's symbol table)", name);
		return false;
	}
	w->off = 0;
	if (plus && !parse_u64(plus + 1, &w->off)) {
		snprintf(why, why_len, "offset '%s' is not a number (hex with 0x, or decimal)", plus + 1);
		return false;
	}
	if (w->off >= w->sym->size) {
		snprintf(why, why_len, "offset %#lx is outside %s (%u bytes)", (unsigned long)w->off, name,
			 w->sym->size);
		return false;
	}
	w->addr = w->sym->addr + w->off;
	return true;
}

char *poke_where_name(const struct poke_where *w, char *buf, size_t size)
{
	snprintf(buf, size, "%s+%#lx", ksym_name(w->sym), (unsigned long)w->off);
	return buf;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool poke_parse_hex(const char *arg, const char *what, uint8_t *out, size_t *n, char *why, size_t why_len)
{
	*n = 0;
	for (const char *p = arg; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		const char *group = p;
		while (*p && *p != ' ') {
			if (hex_digit(*p) < 0) {
				snprintf(why, why_len, "%s '%s': '%c' is not a hex digit", what, arg, *p);
				return false;
			}
			p++;
		}
		if ((p - group) % 2) {
			snprintf(why, why_len, "%s '%s': odd number of hex digits in '%.*s'", what, arg,
				 (int)(p - group), group);
			return false;
		}
		for (const char *q = group; q < p; q += 2) {
			if (*n == POKE_HEX_MAX) {
				snprintf(why, why_len, "%s '%s': more than %u bytes", what, arg, POKE_HEX_MAX);
				return false;
			}
			out[(*n)++] = (uint8_t)(hex_digit(q[0]) << 4 | hex_digit(q[1]));
		}
	}
	return true;
}

bool poke_parse_request(int argc, char **argv, struct poke_req *r, char *why, size_t why_len)
{
	size_t old_len, new_len;

	if (argc != 3) {
		snprintf(why, why_len, "expected SYM[+OFF] OLDHEX NEWHEX, got %d word(s)", argc);
		return false;
	}
	if (!poke_parse_where(argv[0], &r->where, why, why_len) ||
	    !poke_parse_hex(argv[1], "OLDHEX", r->old, &old_len, why, why_len) ||
	    !poke_parse_hex(argv[2], "NEWHEX", r->new, &new_len, why, why_len))
		return false;
	if (old_len != new_len) {
		snprintf(why, why_len, "OLDHEX has %zu byte(s), NEWHEX %zu: they must be the same length", old_len,
			 new_len);
		return false;
	}
	r->len = old_len;
	return true;
}

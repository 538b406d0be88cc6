/*
 * clients/poke/poke_parse.h — the words of the console's poke requests:
 * "SYM[+OFF]" resolved through the kernel's symbol table, and hex bytes.
 * Used by clients/poke/console_poke.c (peek, poke, poke-batch). Thread context.
 *
 * Each parser returns true, or false with a sentence in why saying what is
 * wrong with the input (for "CMD: bad input: <why>").
 */
#ifndef XPOKE_CLIENTS_POKE_PARSE_H
#define XPOKE_CLIENTS_POKE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kernel/ksyms.h"

/* Bytes a hex argument may hold. More than a site may have (POKE_MAX_LEN),
 * so that the patch core, not the parser, refuses a site that is too long
 * (PATCH_ELEN_TOO_LONG). */
#define POKE_HEX_MAX 32

/* A place in .text: a symbol of the kernel's table and an offset inside it. */
struct poke_where {
	const struct ksym *sym;
	uint64_t off;           /* < sym->size */
	uintptr_t addr;         /* sym->addr + off */
};

/* "SYM" or "SYM+OFF": SYM is a symbol name exactly as in the kernel's
 * table; OFF is hex with 0x, or decimal, and must lie inside the symbol. */
bool poke_parse_where(const char *arg, struct poke_where *w, char *why, size_t why_len);

/* "SYM+0xOFF" of w, into buf. */
char *poke_where_name(const struct poke_where *w, char *buf, size_t size);

/* Hex bytes, "e801000000" or "e8 01 00 00 00" (each space-separated group
 * an even number of digits), at most POKE_HEX_MAX; "" is zero bytes.
 * what names the argument in why ("OLDHEX"). */
bool poke_parse_hex(const char *arg, const char *what, uint8_t *out, size_t *n, char *why, size_t why_len);

/* One request: the words SYM[+OFF] OLDHEX NEWHEX (argc must be 3), with
 * OLDHEX and NEWHEX of the same length. */
struct poke_req {
	struct poke_where where;
	size_t len;
	uint8_t old[POKE_HEX_MAX];
	uint8_t new[POKE_HEX_MAX];
};
bool poke_parse_request(int argc, char **argv, struct poke_req *r, char *why, size_t why_len);

#endif

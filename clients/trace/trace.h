/*
 * clients/trace/trace.h — function tracing, ftrace-style: every C function
 * outside the no-patch region starts with a 5-byte NOP (the Makefile's
 * FENTRY_CFLAGS: -pg -mfentry -mrecord-mcount -mnop-mcount), recorded in
 * section __mcount_loc; so do the MASS_N functions of the generated corpus
 * (scripts/gen-mass-corpus.py). trace_set(true, GLOB) patches the NOP of
 * every function whose name matches GLOB into "call trace_entry" — one
 * batch of the patch core for all of them (chunked only past
 * POKE_BATCH_MAX) — and trace_set(false, GLOB) puts the NOPs back.
 * trace_entry (trace_entry.asm) counts a hit of the function it was called
 * from (trace_hit.c), atomically, in any context.
 *
 * Thread context, IRQs on (the patch core's rules); one caller at a time
 * (trace_lock, taken inside).
 */
#ifndef XPOKE_CLIENTS_TRACE_TRACE_H
#define XPOKE_CLIENTS_TRACE_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include "patch/patch.h"

/* What one trace_set() did. */
struct trace_result {
	uint32_t matched;       /* sites whose function matches the glob */
	uint32_t sites;         /* of them, patched now */
	uint32_t batches, rounds;       /* batches of the core, and their rounds in all */
	uint64_t cycles;        /* TSC cycles of the whole request (validation included) */
	uint64_t cycles_scan;   /* of them, the first pass: matching the glob, reading the sites */
	const struct patch_strategy *strategy;
};

/* Errors of trace_set (besides the patch core's -PATCH_E*), negated. */
enum {
	TRACE_ENOMATCH = 1,     /* no traced function matches the glob */
	TRACE_EALREADY,         /* every matching site is already in the wanted state */
	TRACE_EFOREIGN,         /* a matching site holds neither the NOP nor the tracer's call */
};

/* Trace (on) or stop tracing (!on) every function matching glob (NULL:
 * all) with strategy st (NULL: the default). 0, or -TRACE_E* / -PATCH_E*
 * with the reason in why; a refused request changes no byte. */
int trace_set(bool on, const char *glob, const struct patch_strategy *st, struct trace_result *r, char *why,
	      size_t why_len);

/* The fentry sites, sorted by address (the functions' first bytes). */
uint32_t trace_nr_sites(void);
uintptr_t trace_site(uint32_t i);
/* Is site i traced now (its call to trace_entry in place)? */
bool trace_site_on(uint32_t i);
/* Hits of the function starting at fn (0 if it is no site), and of site i. */
uint64_t trace_hits_of(const void *fn);
uint64_t trace_hits(uint32_t i);
/* Calls of trace_entry from no site (should stay 0). */
uint64_t trace_strays(void);

#endif

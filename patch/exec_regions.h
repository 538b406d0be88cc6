/*
 * patch/exec_regions.h — executable memory outside kernel .text that a
 * patched branch may target: the text of livepatch payloads
 * (clients/livepatch/). The validator (patch/validate.c, through
 * patch_env.foreign_target) accepts a new jmp or call whose target lies
 * outside .text only when it is the start of a function registered here;
 * the text itself is never a patch site.
 *
 * A region is registered once its pages are mapped RX and its functions
 * are final, and never removed (payloads are never unloaded). Registration:
 * thread context. Lookup: any context (read-only once published: the count
 * is written last, with release order).
 */
#ifndef XPOKE_PATCH_EXEC_REGIONS_H
#define XPOKE_PATCH_EXEC_REGIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXEC_REGIONS_MAX 32

/* [start, end): the region; fn_starts[0..n): the sorted entry addresses of
 * its functions (the array must stay valid forever); name: for messages.
 * -ENOMEM when EXEC_REGIONS_MAX are registered. */
int exec_region_add(const char *name, uintptr_t start, uintptr_t end, const uintptr_t *fn_starts, unsigned n);

/* Is addr in a registered region? Then *name (if not NULL) gets its name
 * and the result says whether addr is one of its function starts. */
bool exec_region_lookup(uintptr_t addr, bool *is_fn_start, const char **name);

#endif

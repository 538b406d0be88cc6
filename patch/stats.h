/*
 * patch/stats.h — the figures of the batch being applied (kernel only;
 * readers use poke_get_stats() in patch/patch.h).
 */
#ifndef XPOKE_PATCH_STATS_H
#define XPOKE_PATCH_STATS_H

#include "patch/patch.h"

/* Start the figures of batch b, applied by s: returns the record its
 * strategy fills. Thread context, text_lock held. */
struct poke_stats *poke_stats_begin(const struct poke_batch *b, const struct patch_strategy *s);
/* b was applied: totals and #BP hits per CPU; the record becomes the
 * last batch's. A batch a strategy refused never gets here: the figures
 * stay those of the last batch applied. */
void poke_stats_end(const struct poke_batch *b);

#endif

/*
 * strategies/int3_2round/int3_2round.h — hpa's two-round variant of the
 * int3 protocol (seed 001): its phases. Kernel only.
 */
#ifndef XPOKE_STRATEGIES_INT3_2ROUND_INT3_2ROUND_H
#define XPOKE_STRATEGIES_INT3_2ROUND_INT3_2ROUND_H

#include "patch/strategy.h"

enum int3_2round_phase {
	R2_PHASE_PUBLISHED = POKE_PHASE_PUBLISHED,
	R2_PHASE_INT3_WRITTEN,  /* every first byte is int3 */
	R2_PHASE_INT3_SYNCED,
	R2_PHASE_REST_WRITTEN,  /* tails, then first bytes: no round between */
	R2_PHASE_REST_SYNCED,
	R2_PHASE_RETIRED,
	R2_PHASE_COUNT
};

extern const struct patch_strategy int3_2round_strategy;

#endif

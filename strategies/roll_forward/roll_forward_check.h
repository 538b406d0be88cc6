/*
 * strategies/roll_forward/roll_forward_check.h — the roll-forward
 * strategy's own check of a site (host-buildable: no kernel headers).
 */
#ifndef XPOKE_STRATEGIES_ROLL_FORWARD_ROLL_FORWARD_CHECK_H
#define XPOKE_STRATEGIES_ROLL_FORWARD_ROLL_FORWARD_CHECK_H

#include "patch/validate.h"

/* Any one instruction but a branch the core cannot check
 * (-PATCH_EBRANCH_UNCHECKED) and one that begins with 03
 * (-PATCH_EFIRST_BYTE_03); 0 if it may be patched. */
int roll_forward_check_site(const struct poke_site *site, char *why, size_t why_len);

#endif

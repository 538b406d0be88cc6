/*
 * strategies/int3/int3_check.h — the int3 strategy's own check of a site
 * (host-buildable: no kernel headers).
 */
#ifndef XPOKE_STRATEGIES_INT3_INT3_CHECK_H
#define XPOKE_STRATEGIES_INT3_INT3_CHECK_H

#include "patch/validate.h"

/* The new instruction must be one the #BP handler can execute in its
 * place: 0, or -PATCH_ENOT_EMULATABLE naming the mnemonic. */
int int3_check_site(const struct poke_site *site, char *why, size_t why_len);

#endif

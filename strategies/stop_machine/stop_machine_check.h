/*
 * strategies/stop_machine/stop_machine_check.h — the stop-machine
 * strategies' own check of a site (host-buildable: no kernel headers).
 */
#ifndef XPOKE_STRATEGIES_STOP_MACHINE_STOP_MACHINE_CHECK_H
#define XPOKE_STRATEGIES_STOP_MACHINE_STOP_MACHINE_CHECK_H

#include "patch/validate.h"

/* Any one instruction, but not one that changes control flow where the
 * core cannot check it: 0, or -PATCH_EBRANCH_UNCHECKED naming it. */
int stop_machine_check_site(const struct poke_site *site, char *why, size_t why_len);

#endif

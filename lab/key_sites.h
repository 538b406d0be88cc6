/*
 * lab/key_sites.h — static keys to patch live (console `keys`, `key`, and
 * tests/kernel/test_static_key.c): two keys whose sites a bystander runs in
 * one pass, and a key of 76 sites (the figure row of issue 12).
 */
#ifndef XPOKE_LAB_KEY_SITES_H
#define XPOKE_LAB_KEY_SITES_H

#include <stdint.h>
#include "arch/x86/layout.h"
#include "clients/static_key/static_key.h"

#define KEY_MANY_SITES 76

DECLARE_STATIC_KEY_FALSE(lab_key_a);    /* 2 sites, in key_sites_ab() */
DECLARE_STATIC_KEY_FALSE(lab_key_b);    /* 1 site, in key_sites_ab() */
DECLARE_STATIC_KEY_TRUE(lab_key_many);  /* KEY_MANY_SITES sites, in key_sites_many() */

DECLARE_STATIC_KEY_FALSE(lab_key_nmi);  /* 1 site, in nmi_key_site_run(): every NMI */

/* NMI context (nmi_handle, after nmi_site_run): lab_key_nmi's site, counting
 * into key_nmi_hits[cpu][0 off / 1 on]. Takes no lock, calls nothing. */
void nmi_key_site_run(void);
extern uint64_t key_nmi_hits[MAX_CPUS][2];

/* One pass over the sites of lab_key_a and lab_key_b: bit 0 set when
 * lab_key_a's first site branched, bit 2 lab_key_b's site, bit 3 lab_key_a's
 * second (the last site of the pass): 0 or 0xd unless torn. */
uint32_t key_sites_ab(void);

/* How many of lab_key_many's sites branched (0 or KEY_MANY_SITES unless
 * torn). */
uint32_t key_sites_many(void);

#endif

/*
 * lab/key_sites.c — the lab's static keys and the functions holding their
 * sites (see key_sites.h). noinline: each site exists once, in one place.
 */
#include "kernel/percpu.h"
#include "lab/key_sites.h"

DEFINE_STATIC_KEY_FALSE(lab_key_a);
DEFINE_STATIC_KEY_FALSE(lab_key_b);
DEFINE_STATIC_KEY_TRUE(lab_key_many);
DEFINE_STATIC_KEY_FALSE(lab_key_nmi);

uint64_t key_nmi_hits[MAX_CPUS][2];

/* NMI context: no lock, calls nothing; outside the no-patch region on
 * purpose (its site is patched while NMIs run it). */
__attribute__((noinline)) void nmi_key_site_run(void)
{
	key_nmi_hits[this_cpu()->cpu][static_branch_unlikely(&lab_key_nmi) ? 1 : 0]++;
}

__attribute__((noinline)) uint32_t key_sites_ab(void)
{
	uint32_t seen = 0;
	if (static_branch_unlikely(&lab_key_a))
		seen |= 1;
	if (static_branch_unlikely(&lab_key_b))
		seen |= 4;
	if (static_branch_likely(&lab_key_a))
		seen |= 8;
	return seen;
}

#define KEY_SITE_1 n += static_branch_likely(&lab_key_many);
#define KEY_SITE_4 KEY_SITE_1 KEY_SITE_1 KEY_SITE_1 KEY_SITE_1
#define KEY_SITE_19 KEY_SITE_4 KEY_SITE_4 KEY_SITE_4 KEY_SITE_4 KEY_SITE_1 KEY_SITE_1 KEY_SITE_1

__attribute__((noinline)) uint32_t key_sites_many(void)
{
	uint32_t n = 0;
	KEY_SITE_19 KEY_SITE_19 KEY_SITE_19 KEY_SITE_19        /* KEY_MANY_SITES */
	return n;
}

/*
 * lab/key_sites.c — the lab's static keys and the functions holding their
 * sites (see key_sites.h). noinline: each site exists once, in one place.
 */
#include "lab/key_sites.h"

DEFINE_STATIC_KEY_FALSE(lab_key_a);
DEFINE_STATIC_KEY_FALSE(lab_key_b);
DEFINE_STATIC_KEY_TRUE(lab_key_many);

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

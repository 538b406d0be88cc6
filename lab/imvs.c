/*
 * lab/imvs.c — the lab's immediate values and their sites (see imvs.h).
 */
#include "lab/imvs.h"

DEFINE_IMV(uint32_t, lab_imv, LAB_IMV_A);
DEFINE_IMV(int32_t, lab_imv_one, -1);

/* LAB_IMV_SITES functions, each one site of lab_imv. */
#define LAB_IMV_SITE(n) \
	static __attribute__((noinline)) uint32_t lab_imv_site_##n(void) \
	{ \
		return imv_read(lab_imv); \
	}
#define LAB_IMV_SITES8(h) LAB_IMV_SITE(h##0) LAB_IMV_SITE(h##1) LAB_IMV_SITE(h##2) LAB_IMV_SITE(h##3) \
	LAB_IMV_SITE(h##4) LAB_IMV_SITE(h##5) LAB_IMV_SITE(h##6) LAB_IMV_SITE(h##7)
#define LAB_IMV_NAMES8(h) lab_imv_site_##h##0, lab_imv_site_##h##1, lab_imv_site_##h##2, lab_imv_site_##h##3, \
	lab_imv_site_##h##4, lab_imv_site_##h##5, lab_imv_site_##h##6, lab_imv_site_##h##7,
LAB_IMV_SITES8(1) LAB_IMV_SITES8(2)

const lab_imv_site_fn lab_imv_sites[LAB_IMV_SITES] = { LAB_IMV_NAMES8(1) LAB_IMV_NAMES8(2) };

__attribute__((noinline)) int32_t lab_imv_one_read(void)
{
	return imv_read(lab_imv_one);
}

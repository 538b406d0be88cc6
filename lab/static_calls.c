/*
 * lab/static_calls.c — the lab's static calls, their sites and targets
 * (see static_calls.h).
 */
#include "kernel/percpu.h"
#include "lab/static_calls.h"

struct lab_call_hits lab_call_hits[MAX_CPUS];

__attribute__((noinline)) uint32_t lab_fn_a(uint32_t x)
{
	(void)x;
	lab_call_hits[cpu_id()].a++;
	return LAB_CALL_A;
}

__attribute__((noinline)) uint32_t lab_fn_b(uint32_t x)
{
	(void)x;
	lab_call_hits[cpu_id()].b++;
	return LAB_CALL_B;
}

__attribute__((noinline)) uint32_t lab_fn_c(uint32_t x)
{
	(void)x;
	lab_call_hits[cpu_id()].c++;
	return LAB_CALL_C;
}

/* NMI context: one increment of this CPU's own counter; no lock, no call. */
__attribute__((noinline)) void lab_nmi_fn_a(void)
{
	lab_call_hits[cpu_id()].nmi_a++;
}

__attribute__((noinline)) void lab_nmi_fn_b(void)
{
	lab_call_hits[cpu_id()].nmi_b++;
}

DEFINE_STATIC_CALL(lab_call, lab_fn_a);
STATIC_CALL_ALLOW(lab_call, lab_fn_b);
DEFINE_STATIC_CALL(lab_call_one, lab_fn_a);
STATIC_CALL_ALLOW(lab_call_one, lab_fn_b);
DEFINE_STATIC_CALL(lab_nmi_call, lab_nmi_fn_a);
STATIC_CALL_ALLOW(lab_nmi_call, lab_nmi_fn_b);

/* 64 functions, each one site of lab_call. */
#define LAB_SITE(n) \
	static __attribute__((noinline)) uint32_t lab_call_site_##n(uint32_t x) \
	{ \
		return static_call(lab_call, x); \
	}
#define LAB_SITES8(h) LAB_SITE(h##0) LAB_SITE(h##1) LAB_SITE(h##2) LAB_SITE(h##3) \
	LAB_SITE(h##4) LAB_SITE(h##5) LAB_SITE(h##6) LAB_SITE(h##7)
#define LAB_NAMES8(h) lab_call_site_##h##0, lab_call_site_##h##1, lab_call_site_##h##2, lab_call_site_##h##3, \
	lab_call_site_##h##4, lab_call_site_##h##5, lab_call_site_##h##6, lab_call_site_##h##7,
LAB_SITES8(1) LAB_SITES8(2) LAB_SITES8(3) LAB_SITES8(4) LAB_SITES8(5) LAB_SITES8(6) LAB_SITES8(7) LAB_SITES8(8)

const lab_call_site_fn lab_call_sites[LAB_CALL_SITES] = {
	LAB_NAMES8(1) LAB_NAMES8(2) LAB_NAMES8(3) LAB_NAMES8(4) LAB_NAMES8(5) LAB_NAMES8(6) LAB_NAMES8(7) LAB_NAMES8(8)
};

__attribute__((noinline)) uint32_t lab_call_one_run(uint32_t x)
{
	return static_call(lab_call_one, x);
}

/* NMI context (a test's NMI hook): the site, then lab_nmi_fn_a or _b. */
__attribute__((noinline)) void lab_nmi_call_run(void)
{
	static_call(lab_nmi_call);
}

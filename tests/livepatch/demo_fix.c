/*
 * tests/livepatch/demo_fix.c — the README's walkthrough payload: the
 * kernel's lp_demo_answer(x) (lab/lp_demo.c) returns x + 1; this payload
 * makes it return x * 2, so `call lp_demo_answer 21` prints 42 once it is
 * applied, and 22 again after it is reverted.
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("demo_fix");

int lp_demo_answer_fixed(int x);

int lp_demo_answer_fixed(int x)
{
	return x * 2;
}
LIVEPATCH_FUNC(lp_demo_answer, lp_demo_answer_fixed);

/*
 * lab/lp_demo.c — the function the README's livepatch walkthrough
 * replaces: lp_demo_answer(x) is x + 1 in the kernel as built; the
 * walkthrough's payload (tests/livepatch/demo_fix.c) makes it x * 2.
 * Called from the console (`call lp_demo_answer 21`, kernel/callable.h).
 * Built with the fentry NOP at its entry, like every C function outside
 * the no-patch region: the 5 bytes a livepatch turns into its jmp.
 */
#include "kernel/callable.h"

int lp_demo_answer(int x);

__attribute__((noinline, noipa)) int lp_demo_answer(int x)
{
	return x + 1;
}
CONSOLE_CALLABLE_INT(lp_demo_answer, 1);

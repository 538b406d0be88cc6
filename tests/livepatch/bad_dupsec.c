/*
 * tests/livepatch/bad_dupsec.c — refused with LP_EMALFORMED: two sections
 * named .livepatch.funcs (the loader read the first and ignored the
 * second's entries).
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_dupsec");
const char *bad_dupsec_new(int err) { (void)err; return "bad_dupsec"; }
LIVEPATCH_FUNC(errno_name, bad_dupsec_new);
__asm__(".section .livepatch.funcs, \"a\", @progbits, unique, 2\n"
	".balign 8\n"
	".ascii \"lp_demo_answer\"\n"
	".fill 50, 1, 0\n"                      /* old_name */
	".quad bad_dupsec_new\n"                /* new_addr */
	".fill 8, 1, 0\n"                       /* expect, expect_set, reserved */
	".previous\n");

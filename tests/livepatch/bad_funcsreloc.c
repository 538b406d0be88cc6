/*
 * tests/livepatch/bad_funcsreloc.c — refused with LP_EMALFORMED: a
 * relocation writes inside an entry's old_name (after its NUL), which the
 * loader checks before relocating. Only each entry's new_addr may be
 * relocated in .livepatch.funcs, or a name could change after its check.
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_funcsreloc");
const char *bad_funcsreloc_new(int err) { (void)err; return "bad_funcsreloc"; }
__asm__(".pushsection .livepatch.funcs, \"a\"\n"
	".balign 8\n"
	".ascii \"errno_name\"\n"
	".fill 46, 1, 0\n"                      /* old_name[0..56) */
	".quad bad_funcsreloc_new\n"            /* old_name[56..64): relocated */
	".quad bad_funcsreloc_new\n"            /* new_addr */
	".fill 8, 1, 0\n"                       /* expect, expect_set, reserved */
	".popsection\n");

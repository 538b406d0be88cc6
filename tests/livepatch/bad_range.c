/*
 * tests/livepatch/bad_range.c — refused with LP_ERELOC_RANGE: a
 * R_X86_64_PC32 from the payload area (the top GiB) to the absolute address
 * 0x100000000000 (16 TiB, lower half): a 32-bit displacement cannot reach
 * it. (A low address such as 0x1000 would: RIP + disp32 wraps at 2^64.)
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_range");
const char *bad_range_new(int err) { (void)err; return "bad_range"; }
LIVEPATCH_FUNC(errno_name, bad_range_new);

__asm__(".set bad_range_far, 0x100000000000\n"
	".pushsection .data.bad_range, \"aw\"\n"
	".reloc ., R_X86_64_PC32, bad_range_far\n"
	".long 0\n"
	".popsection");

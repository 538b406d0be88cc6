/*
 * tests/livepatch/bad_zerofn.c — refused with LP_EBAD_NEW: the new body is
 * a function symbol of size 0 at the very end of its section (no byte of
 * it is in the payload's text; a jmp to it would run whatever follows).
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_zerofn");
__asm__(".pushsection .text.bad_zerofn, \"ax\", @progbits\n"
	"\tret\n"
	".globl bad_zerofn_new\n"
	".type bad_zerofn_new, @function\n"
	"bad_zerofn_new:\n"
	".size bad_zerofn_new, 0\n"
	".popsection\n");
extern const char *bad_zerofn_new(int err);
LIVEPATCH_FUNC(errno_name, bad_zerofn_new);

/*
 * tests/livepatch/bad_reloc.c — refused with LP_ERELOC_TYPE: a
 * R_X86_64_GOTPCREL (type 9, a GOT the loader does not build) written with
 * the assembler's .reloc into a loaded data section.
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_reloc");
const char *bad_reloc_new(int err) { (void)err; return "bad_reloc"; }
LIVEPATCH_FUNC(errno_name, bad_reloc_new);

__asm__(".pushsection .data.bad_reloc, \"aw\"\n"
	".reloc ., R_X86_64_GOTPCREL, errno_name\n"
	".long 0\n"
	".popsection");

/*
 * tests/livepatch/bad_notelf.c — refused with LP_ENOT_ELF: built, then
 * replaced by a line of text (scripts/lp-mutate.py --not-elf), as if a
 * text file had been named NAME.lp.
 */
// lp-mutate: --not-elf
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_notelf");
const char *bad_notelf_new(int err) { (void)err; return "bad_notelf"; }
LIVEPATCH_FUNC(errno_name, bad_notelf_new);

/*
 * tests/livepatch/bad_machine.c — refused with LP_EMACHINE: a good object
 * whose e_machine is then set to EM_386 (3) by scripts/lp-mutate.py.
 */
// lp-mutate: --machine 3
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_machine");
const char *bad_machine_new(int err) { (void)err; return "bad_machine"; }
LIVEPATCH_FUNC(errno_name, bad_machine_new);

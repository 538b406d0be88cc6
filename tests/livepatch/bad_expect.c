/*
 * tests/livepatch/bad_expect.c — loads, but is refused at apply with
 * LP_EEXPECT: the expected first bytes written in the source (five int3)
 * are not errno_name's.
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_expect");
const char *bad_expect_new(int err) { (void)err; return "bad_expect"; }
LIVEPATCH_FUNC_EXPECT(errno_name, bad_expect_new, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc);

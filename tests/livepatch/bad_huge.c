/*
 * tests/livepatch/bad_huge.c — refused with LP_ENOMEM: its 240 MiB .bss
 * fits the payload area (256 MiB) but not the test ISO's RAM (256M): the
 * loader counts the frames it needs against the free ones before taking
 * any, instead of running the physical allocator dry (a panic).
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("bad_huge");
char bad_huge_big[240 << 20];        /* global: gcc cannot drop it */
int bad_huge_new(int i) { return bad_huge_big[i]; }
LIVEPATCH_FUNC(errno_name, bad_huge_new);

/*
 * lab/alt_sites.h — the lab's alternative sites (clients/alternative/),
 * for the tests (tests/kernel/test_alternative.c) and the console:
 *
 *   lab_alt_popcount(x)  popcnt          call lab_popcount_sw  <-> popcnt %rdi,%rax
 *                                        (one instruction each: any strategy)
 *   lab_alt_rdtsc()      rdtscp          lfence; rdtsc         <-> rdtscp; nop2
 *                                        (several instructions both ways)
 *   lab_alt_tag()        erms            add $1; pause; add $2     = LAB_ALT_TAG_OLD
 *                                        add $0x40; pause; add $8  = LAB_ALT_TAG_NEW
 * The tag site has the same instruction boundaries in both variants, so a
 * CPU resumed in the middle of one after the other was written runs a
 * mixed sum, neither value (a torn sequence shows: 0x09 or 0x42). Its
 * PAUSE ends QEMU's translation block, so that an NMI can land between
 * the instructions under TCG, as it can on hardware (TCG takes interrupts
 * only where a block starts).
 */
#ifndef XPOKE_LAB_ALT_SITES_H
#define XPOKE_LAB_ALT_SITES_H

#include <stdint.h>

#define LAB_ALT_TAG_OLD 0x03u
#define LAB_ALT_TAG_NEW 0x48u

uint64_t lab_alt_popcount(uint64_t x);
uint64_t lab_popcount_sw(uint64_t x);
uint64_t lab_alt_rdtsc(void);
uint32_t lab_alt_tag(void);

#endif

/*
 * lab/alt_sites.c — the lab's alternative sites (lab/alt_sites.h says
 * what each is for).
 */
#include "clients/alternative/alternative.h"
#include "lab/alt_sites.h"

/* The fallback: the bits of x, counted without popcnt. A plain C function
 * (the System V convention: x in rdi, the count in rax) that the old
 * sequence of lab_alt_popcount's site calls. */
__attribute__((noinline, used)) uint64_t lab_popcount_sw(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (x * 0x0101010101010101ull) >> 56;
}

__attribute__((noinline)) uint64_t lab_alt_popcount(uint64_t x)
{
	uint64_t n;
	__asm__ volatile(ALTERNATIVE("call lab_popcount_sw", "popcnt %%rdi, %%rax", ALT_F_POPCNT)
			 : "=a"(n), "+D"(x)
			 :
			 : "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory", "cc");
	return n;
}

/* An ordered TSC read: lfence; rdtsc, or rdtscp where the CPU has it. */
__attribute__((noinline)) uint64_t lab_alt_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile(ALTERNATIVE("lfence; rdtsc", "rdtscp", ALT_F_RDTSCP) : "=a"(lo), "=d"(hi) : : "rcx", "memory");
	return ((uint64_t)hi << 32) | lo;
}

__attribute__((noinline)) uint32_t lab_alt_tag(void)
{
	uint32_t v = 0;
	__asm__ volatile(ALTERNATIVE("add $0x01, %%eax; pause; add $0x02, %%eax",
				     "add $0x40, %%eax; pause; add $0x08, %%eax", ALT_F_ERMS)
			 : "+a"(v) : : "cc");
	return v;
}

/*
 * tests/kernel/test_traps.c — exceptions: int3 comes back intact, and
 * expected faults are caught with the right vector and address.
 */
#include "arch/x86/cpu.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/recover.h"

uint32_t int3_regs_check(void);                 /* traps_helpers.asm */
void trap_ud2(void *unused);
void trap_gp_noncanonical(void *unused);
extern const char trap_ud2_site[], trap_gp_site[];

/* Does int3 return to the next instruction with all registers preserved? */
static void test_int3_regs(void)
{
	uint64_t before = this_cpu()->int3_count;
	uint32_t changed = int3_regs_check();
	report(changed == 0, "int3 preserved RAX..R15, RSP, CF and DF (changed mask %#x)", changed);
	report(this_cpu()->int3_count == before + 1, "the #BP normal path counted exactly one int3 (%lu)",
	       this_cpu()->int3_count - before);
}
KTEST("trap.int3_regs_preserved", test_int3_regs);

/* Is #UD caught at the faulting instruction? */
static void test_catch_ud(void)
{
	struct fault_catch f;
	int v = catch_exception(trap_ud2, NULL, &f);
	report(v == 6, "ud2 raised vector %d (expected 6, #UD)", v);
	report(f.rip == (uintptr_t)trap_ud2_site, "at RIP %#lx (the ud2 is at %p)", f.rip, trap_ud2_site);
}
KTEST("trap.catch_ud", test_catch_ud);

/* Is #GP caught at the faulting instruction? */
static void test_catch_gp(void)
{
	struct fault_catch f;
	int v = catch_exception(trap_gp_noncanonical, NULL, &f);
	report(v == 13, "non-canonical load raised vector %d (expected 13, #GP)", v);
	report(f.rip == (uintptr_t)trap_gp_site, "at RIP %#lx (the load is at %p)", f.rip, trap_gp_site);
	report(f.error == 0, "error code %#lx (0: not a segment fault)", f.error);
}
KTEST("trap.catch_gp", test_catch_gp);

/* Does a catch window that sees no fault return -1 and leave nothing armed? */
static void nothing(void *p) { *(int *)p = 42; }

static void test_catch_none(void)
{
	struct fault_catch f;
	int x = 0;
	int v = catch_exception(nothing, &x, &f);
	report(v == -1 && x == 42, "no fault: returned %d, function ran (%d)", v, x);
	report(this_cpu()->catch == NULL, "no catch window left armed");
}
KTEST("trap.catch_no_fault", test_catch_none);

/*
 * tests/livepatch/reloc_kinds.c — a good payload whose code needs every
 * relocation type the loader applies, against kernel symbols (functions
 * and data) and its own; ktest livepatch.relocations calls it (it is never
 * applied). Which line makes which relocation (readelf -r):
 *
 *   errno_name(-12)               R_X86_64_PLT32  kernel function
 *   &bootinfo                     R_X86_64_32S    kernel data (movq $sym, %rax: -mcmodel=kernel)
 *   nr_cpus_online                R_X86_64_PC32   kernel data (movl sym(%rip))
 *   self_var                      R_X86_64_PC32   own .data
 *   table[] = { &nr_cpus_online,  R_X86_64_64     kernel data
 *               self_helper }     R_X86_64_64     own text
 *   table[*pick]                  R_X86_64_32S    own .rodata (movq table(,%rax,8))
 *   .new_addr in .livepatch.funcs R_X86_64_64     own text
 *
 * The probe replaces errno_name in name only (a signature it can share):
 * probe(k) returns the value of case k, cast.
 */
#include "clients/livepatch/payload.h"

LIVEPATCH_NAME("reloc_kinds");

struct bootinfo;
extern struct bootinfo bootinfo;
extern uint32_t nr_cpus_online;
extern const char *errno_name(int err);

static volatile int self_var = 1234;
static volatile int pick_kernel = 0, pick_self = 1;

__attribute__((noinline)) static long self_helper(void) { return 7; }

static const void *const table[] = { &nr_cpus_online, (const void *)self_helper };

const char *reloc_kinds_probe(int k)
{
	switch (k) {
	case 0: return errno_name(-12);
	case 1: return (const char *)&bootinfo;
	case 2: return (const char *)(uintptr_t)nr_cpus_online;
	case 3: return (const char *)(uintptr_t)self_var;
	case 4: return (const char *)table[pick_kernel];
	case 5: return (const char *)((long (*)(void))table[pick_self])();
	default: return 0;
	}
}

LIVEPATCH_FUNC(errno_name, reloc_kinds_probe);

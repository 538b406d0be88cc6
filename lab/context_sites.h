/*
 * lab/context_sites.h — live patch sites on the NMI, #MC and IRQ paths.
 *
 * nmi_handle(), mce_handle() and irq_dispatch() each call their *_site_run()
 * on every entry. Each is one 5-byte site, "call count_<path>_a" or
 * "call count_<path>_b", counting into lab_cpu[cpu].site_hits[path][a or b],
 * so the storm tests can flip the site while the path runs, and check that
 * every entry went through exactly one of the two variants. The sites live
 * outside the no-patch region on purpose: the handlers that call them are
 * in it, so hitting these sites mid-patch goes through the #BP path.
 *
 * The indices and the layout of struct lab_cpu reach the assembly
 * (lab/context_sites_code.asm) through arch/x86/asm-offsets.c.
 */
#ifndef XPOKE_LAB_CONTEXT_SITES_H
#define XPOKE_LAB_CONTEXT_SITES_H

#include <stdint.h>
#include "arch/x86/layout.h"

enum ctx_site { SITE_NMI, SITE_MCE, SITE_IRQ, CTX_SITES };
enum ctx_variant { CTX_VARIANT_A, CTX_VARIANT_B, CTX_VARIANTS };

/* The NMI and #MC paths' value sites (nmi_value, mce_value), run after
 * their call sites: "mov eax, imm32" with one of two values whose every
 * byte differs, so an execution of a half-written site yields neither (a
 * torn execution, counted; both sites count into the same value_hits). */
#define VALUE_A 0xa5a5a5a5u
#define VALUE_B 0x5a5a5a5au
enum value_result { VALUE_GOT_A, VALUE_GOT_B, VALUE_TORN, VALUE_RESULTS };

/* The lab's per-CPU counters, indexed by logical CPU number. */
struct lab_cpu {
	uint64_t site_hits[CTX_SITES][CTX_VARIANTS];    /* calls that went to variant a / b, per path */
	uint64_t value_hits[VALUE_RESULTS];             /* the value sites: a, b, torn */
	uint32_t value_torn;                            /* the last torn value read */
} __attribute__((aligned(64)));

extern struct lab_cpu lab_cpu[MAX_CPUS];

void nmi_site_run(void);                /* and then its value site */
void mce_site_run(void);                /* and then its value site */
void irq_site_run(void);

#endif

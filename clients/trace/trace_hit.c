/*
 * clients/trace/trace_hit.c — the tracer's counter: called by
 * trace_entry.asm with the return address into the traced function.
 *
 * Runs in any context a traced function runs in: thread, IRQ, the
 * patching CPU between the write steps of a batch (a #BP emulated the
 * call), and NMI and #MC: the handlers' own code calls nothing patchable
 * (make lint), but the lab's NMI-path sites (nmi_key_site_run,
 * lab_nmi_call_run and its targets) and the tests' NMI and #MC hooks are
 * fentry-compiled C that those handlers run on purpose. So it takes no
 * lock and calls nothing: one binary search of the sorted sites (inline)
 * and one atomic add. Installing the call is as safe as the batch's
 * strategy: int3 (the default) is safe against NMIs and #MC, stop-machine
 * is not (README, Function tracing). Compiled without the fentry NOP (the
 * Makefile's NOFENTRY_OBJS), so it never traces itself.
 */
#include "patch/patch.h"
#include "clients/trace/ftrace_sites.h"

uint64_t trace_stray_hits;              /* calls from no site */

void trace_hit(uintptr_t ret);
void trace_hit(uintptr_t ret)
{
	uint32_t i = ftrace_site_index(ret - CALL_INSN_SIZE);
	if (i == FTRACE_NONE) {
		__atomic_fetch_add(&trace_stray_hits, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&ftrace_hits[i], 1, __ATOMIC_RELAXED);
}

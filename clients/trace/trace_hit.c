/*
 * clients/trace/trace_hit.c — the tracer's counter: called by
 * trace_entry.asm with the return address into the traced function.
 *
 * Runs in any context a traced function runs in: thread, IRQ, and the
 * patching CPU between the write steps of a batch (a #BP emulated the
 * call). Never in NMI or #MC context: those paths call nothing patchable
 * (make lint). It takes no lock and calls nothing: one binary search of
 * the sorted sites (inline) and one atomic add. Compiled without the
 * fentry NOP (the Makefile's NOFENTRY_OBJS), so it never traces itself.
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

/*
 * patch/patch_cpu.h — the patch core's per-CPU state, embedded in struct
 * percpu (kernel/percpu.h) as ->patch. Only patch/ reads or writes these
 * fields; arch/ reaches them through patch/trap.h, tests through
 * patch_cpu_of(). Kernel only.
 */
#ifndef XPOKE_PATCH_PATCH_CPU_H
#define XPOKE_PATCH_PATCH_CPU_H

#include <stdint.h>

/* The context a CPU was in when it hit a site. */
enum bp_ctx { BP_THREAD, BP_IRQ, BP_NMI, BP_MCE, BP_CTX_COUNT };
extern const char *const bp_ctx_names[BP_CTX_COUNT];     /* "thread", ... */

#define PATCH_HAZARDS_MAX 6
/* One pin in live_pin (bit 0 is the gate): assembly that drops a pin
 * subtracts this with a locked instruction (asm-offsets.inc). */
#define LIVE_PIN_ONE 2u

struct patch_cpu {
	uint32_t bp_refs;                   /* patch #BP handlers this CPU is running (trap.c) */
	uint32_t bp_nested;                 /* NMI/#MC handlers running inside those (trap.c) */
	uint32_t live_pin;                  /* bit 0: gate open; + 2 per pin held here (live.c) */
	uint64_t sync_acked;                /* last rendezvous round this CPU acknowledged */
	uint32_t idle_deferred;             /* 1: halted in the idle loop; a deferring round may skip
					     * it: it serializes on its next trap entry (trap.c) */
	uint64_t idle_serialized;           /* trap entries that serialized for a deferred wake */
	uint64_t bp_handled[BP_CTX_COUNT];  /* live sites hit and handled by the strategy, by context */
	uint64_t bp_vanished;               /* int3s gone by the time #BP looked: re-run */
	uint64_t hazard[PATCH_HAZARDS_MAX]; /* the strategy's hazard counters (patch/strategy.h) */
	uint32_t poke_handler_depth;        /* the handler of this CPU opened for the writer: its
					     * ctx_depth, 0 if none (text_poke.c) */
	uint64_t text_writes[BP_CTX_COUNT]; /* runs of bytes the single writer stored on this CPU,
					     * by context (text_poke.c) */
	uint64_t bp_looked_again;           /* #BP looks repeated: a batch was published meanwhile */
	struct bp_rerun {                   /* per context: */
		uintptr_t addr;             /* the last address re-run, */
		uint32_t run;               /* so many times in a row */
	} bp_rerun[BP_CTX_COUNT];
};

#endif

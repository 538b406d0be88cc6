/*
 * lab/storm.h — NMI and IPI storms while sites are being patched.
 *
 * The calling CPU (the patcher) flips the chosen sites back and forth as
 * fast as the int3 protocol allows; every other CPU (a sender) fires NMIs
 * (to one CPU, to all but itself, to itself, in turn) and/or fixed IPIs as
 * fast as it can, and between shots runs the thread-context site and,
 * optionally, INT 18 (the #MC handler's path). With one CPU, the patcher
 * sends to itself between flips. Sites: the thread-context flip site
 * (tests/kernel: "call"), the IRQ, NMI and #MC paths' sites
 * (lab/context_sites.h).
 *
 * A watchdog on the patcher checks every sender's heartbeat; a sender that
 * makes no progress for STORM_STUCK_MS is reported with its RIP (asked for
 * by NMI) and the storm fails.
 */
#ifndef XPOKE_LAB_STORM_H
#define XPOKE_LAB_STORM_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/layout.h"
#include "lab/context_sites.h"
#include "patch/patch_cpu.h"

#define STORM_STUCK_MS 3000

enum storm_kind { STORM_NMI = 1, STORM_IPI = 2, STORM_MIXED = 3 };

struct storm_cfg {
	uint32_t kind;                  /* enum storm_kind: what the senders fire */
	uint32_t ms;                    /* how long to patch under fire */
	uint32_t idle_ms;               /* first measure the storm this long without patching */
	bool flip_thread, flip_irq, flip_nmi, flip_mce;
	bool soft_mce;                  /* senders also run INT 18 now and then */
	uint32_t nmi_print_every;       /* print from the NMI handler every N storm NMIs */
	bool (*poll)(void);             /* optional: called every round; true stops (ms is then a limit) */
	int stuck_sender;               /* tests: this CPU stops beating (-1: none) */
};

struct storm_cpu {
	uint64_t nmis, nmis_idle;       /* NMIs handled while patching / while idle */
	uint64_t irqs;
	uint64_t bp[BP_CTX_COUNT];      /* #BP emulations by context (enum bp_ctx) */
	uint64_t noiret, nested;
	uint64_t sent_nmi, sent_ipi, thread_calls, bad;
	uint64_t site_hits[CTX_SITES][CTX_VARIANTS];     /* lab_cpu[].site_hits */
	uint64_t mce_soft;
};

struct storm_result {
	uint64_t ms, idle_ms;           /* measured */
	uint64_t flips, flip_errors;
	uint64_t sites_lost;            /* path entries that ran neither variant */
	uint64_t bad;                   /* thread-site results other than a or b */
	int stuck_cpu;                  /* -1, or the sender the watchdog caught */
	struct storm_cpu cpu[MAX_CPUS];
	struct storm_cpu total;
};

/* Run a storm; 0, or -1 on failure (flip refused, bad result, lost site
 * entry, stuck CPU). Thread context on the patching CPU. */
int storm_run(const struct storm_cfg *cfg, struct storm_result *res);

/* Print the figures (per CPU and in all). */
void storm_print(const struct storm_cfg *cfg, const struct storm_result *res);

#endif

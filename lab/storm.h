/*
 * lab/storm.h — NMI and IPI storms while sites are being patched.
 *
 * The calling CPU (the patcher) flips the chosen sites back and forth as
 * fast as the int3 protocol allows; every other CPU (a sender) fires NMIs
 * (to one CPU, to all but itself, to itself, in turn) and/or fixed IPIs as
 * fast as it can, and between shots runs the thread-context site and,
 * optionally, INT 18 (the #MC handler's path). With one CPU, the patcher
 * sends to itself between flips. Sites: the thread-context flip site
 * (tests/kernel: "call"), the IRQ, NMI and #MC paths' call sites and the
 * NMI and #MC paths' value sites (lab/context_sites.h). The patcher uses
 * cfg->strategy, or the default one (patch.strategy=); when that strategy
 * puts int3s in, the patcher also fires at itself the moment they are in
 * (its own handlers then run its own sites in flight).
 *
 * Figures besides the counters: the patcher's time per flip (a histogram)
 * and each sender's stall, its longest gap between two shots during each
 * flip (lab/stall.h: stall_of(cpu), until the next measurement).
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
#include "lab/hist.h"
#include "patch/patch_cpu.h"

#define STORM_STUCK_MS 3000

enum storm_kind { STORM_NMI = 1, STORM_IPI = 2, STORM_MIXED = 3 };

struct storm_cfg {
	uint32_t kind;                  /* enum storm_kind: what the senders fire */
	const struct patch_strategy *strategy;  /* the patcher's; NULL: the default (patch.strategy=) */
	uint32_t ms;                    /* how long to patch under fire */
	uint32_t idle_ms;               /* first measure the storm this long without patching */
	bool flip_thread, flip_irq, flip_nmi, flip_mce;
	bool flip_nmi_value, flip_mce_value;    /* the NMI / #MC path's value site (mov eax, A|B) */
	bool soft_mce;                  /* senders also run INT 18 now and then */
	uint32_t host_events;           /* PATCH_EV_*: what the host injects meanwhile (QMP) */
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
	uint64_t hazard[PATCH_HAZARDS_MAX];              /* the strategy's hazard counters */
	uint64_t value[VALUE_RESULTS];                   /* value-site executions: a, b, torn */
};

struct storm_result {
	uint64_t ms, idle_ms;           /* measured */
	uint64_t flips, flip_errors;
	uint64_t sites_lost;            /* path entries that ran neither variant */
	uint64_t bad;                   /* thread-site results other than a or b */
	uint64_t torn;                  /* value-site executions that gave neither value */
	int first_err;                  /* the first refused flip's -PATCH_E* code (0: none) */
	const struct patch_strategy *strategy;          /* the one that patched */
	struct hist latency;            /* the patcher's time per flip, TSC cycles */
	int stuck_cpu;                  /* -1, or the sender the watchdog caught */
	struct storm_cpu cpu[MAX_CPUS];
	struct storm_cpu total;
};

/* Run a storm; 0, or -1 on failure (flip refused, bad result, torn value,
 * lost site entry, stuck CPU). Thread context on the patching CPU. */
int storm_run(const struct storm_cfg *cfg, struct storm_result *res);

/* The events (PATCH_EV_*) this storm fires at sites in flight when
 * strategy s patches: IRQs, other CPUs' NMIs and #MCs (INT 18) when there
 * are other CPUs, the patcher's own NMIs and IRQs when s puts int3s in. */
uint32_t storm_events(const struct storm_cfg *cfg, const struct patch_strategy *s);

/* Fit cfg to its strategy (cfg->strategy, or the default). The events it does not claim to be safe
 * against (the result; 0 if none) lose their paths' call sites (a torn
 * call would crash, not be counted). A strategy that can patch the value
 * sites (*can_detect; else nothing could show such a hazard) flips the
 * value site of each path whose call site was asked for. */
uint32_t storm_fit(struct storm_cfg *cfg, bool *can_detect);

/* "NMI,#MC" from PATCH_EV_* bits; "-" for none. */
void storm_event_names(uint32_t ev, char *buf, size_t size);

/* Print the figures (per CPU and in all). */
void storm_print(const struct storm_cfg *cfg, const struct storm_result *res);

#endif

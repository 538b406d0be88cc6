/*
 * clients/alternative/apply_boot.c — the boot application of the
 * alternatives, on the BSP before the APs start, inside an NMI of the BSP
 * (Xen's approach, seed 000). Alone on the machine, the only thing that
 * can run a site while it is half written is this CPU's own NMI handler
 * (an NMI may come at any time: a watchdog, the host's `nmi`); a write
 * made INSIDE the NMI handler cannot be interrupted by another NMI (they
 * are blocked until its IRET), so no NMI ever runs a half-written
 * sequence, multi-instruction ones included. (#MC could still: as Xen and
 * Linux conclude, nothing is done for it.)
 *
 *   BSP thread                              BSP NMI handler
 *   ----------                              ---------------
 *   CPUID -> features; save the originals,
 *   relocate the replacements (or panic)
 *   check old -> new of every site (or panic)
 *   plan: every site whose bytes change
 *   text_lock; plan.armed = 1 (release)
 *   NMI to self (NMI_ALT) ------------->    alt_apply_nmi: record depth,
 *                                           CPU, CPUs online; write every
 *                                           site of the plan; armed = 0;
 *   wait ran_in_nmi (1 s, else panic) <-    ran_in_nmi++ (release); IRET
 *   text_lock released; check new -> old
 *   of every site written (or panic);
 *   print one line
 *   (then smp_boot starts the APs)
 *
 * The checks are the run-time path's (smp_text_poke_batch_add with
 * stop-machine-nmi, the default of alt mask/unmask, then dropped): a site
 * that either direction would refuse later is refused now, by name,
 * before any byte is written (a panic: the table is built into this
 * kernel). The new -> old direction needs the text to hold the new
 * variant, so it runs after the writes, for the sites written.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/nmi.h"
#include "arch/x86/serialize.h"
#include "arch/x86/tsc.h"
#include "kernel/format.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "clients/alternative/alternative.h"

#define ALT_NMI_WAIT_US 1000000

POKE_BATCH_DEFINE(alt_check_batch, 1);

/* Would the run-time path take this site from the variant it holds now
 * (new or not) to the other? Panics naming the site and the reason if
 * not. Thread context, text_lock not held. */
static void check_variant(const struct alt_entry *e, bool holds_new)
{
	uint8_t now[POKE_MAX_LEN], want[POKE_MAX_LEN];
	unsigned len = alt_len(e);
	alt_bytes(e, holds_new, now);
	alt_bytes(e, !holds_new, want);
	if (!memcmp(now, want, len))
		return;
	struct poke_batch *b = &alt_check_batch;
	b->strategy = patch_strategy_find("stop-machine-nmi");
	b->quiet = true;
	int err = smp_text_poke_batch_add(b, (void *)alt_site(e), now, want, len);
	smp_text_poke_batch_reset(b);
	if (err)
		panic("alternatives: site %#lx (feature %s): the run-time path would refuse %s -> %s: %s: %s",
		      alt_site(e), alt_features[e->feature].name, holds_new ? "new" : "old", holds_new ? "old" : "new",
		      patch_errname(err), b->why);
}

void alt_apply_boot(void)
{
	alt_features_detect();
	alt_save_variants();
	for (const struct alt_entry *e = __alt_instructions_start; e < __alt_instructions_end; e++)
		check_variant(e, false);        /* every site holds its old variant still */

	/* The plan, sorted by address (insertion: a few dozen sites). */
	alt_plan.n = 0;
	for (const struct alt_entry *e = __alt_instructions_start; e < __alt_instructions_end; e++) {
		if (!alt_feature_on(e->feature))
			continue;       /* the built bytes are the old variant already */
		unsigned i = alt_plan.n++;
		uintptr_t a = alt_site(e);
		while (i && alt_plan.addr[i - 1] > a) {
			alt_plan.addr[i] = alt_plan.addr[i - 1];
			alt_plan.len[i] = alt_plan.len[i - 1];
			memcpy(alt_plan.bytes[i], alt_plan.bytes[i - 1], POKE_MAX_LEN);
			i--;
		}
		alt_plan.addr[i] = a;
		alt_plan.len[i] = (uint8_t)alt_len(e);
		alt_bytes(e, true, alt_plan.bytes[i]);
	}
	alt_boot.sites = alt_nr_sites();
	alt_boot.written = alt_plan.n;

	patch_text_lock();
	__atomic_store_n(&alt_plan.armed, 1, __ATOMIC_RELEASE);
	nmi_send(cpu_id(), NMI_ALT);
	uint64_t deadline = tsc_deadline_us(ALT_NMI_WAIT_US);
	while (!__atomic_load_n(&alt_boot.ran_in_nmi, __ATOMIC_ACQUIRE)) {
		if (tsc_expired(deadline))
			panic("alternatives: the boot CPU's own NMI (NMI_ALT) did not come within %u ms; no site written",
			      ALT_NMI_WAIT_US / 1000);
		cpu_relax();
	}
	patch_text_unlock();
	sync_core();
	for (const struct alt_entry *e = __alt_instructions_start; e < __alt_instructions_end; e++)
		if (alt_feature_on(e->feature))
			check_variant(e, true);         /* written: holds the new variant */

	char list[128];
	unsigned n = 0;
	for (unsigned f = 0; f < ALT_NR_FEATURES && n < sizeof(list); f++)
		n += snprintf(list + n, sizeof(list) - n, " %s%c", alt_features[f].name,
			      alt_features[f].present ? '+' : '-');
	printk("alternatives: %u of %u sites patched in the boot CPU's NMI (CPU %u, NMI depth %u, %u CPU online); "
	       "features:%s", alt_boot.written, alt_boot.sites, alt_boot.cpu, alt_boot.nmi_depth, alt_boot.cpus_online,
	       list);
}

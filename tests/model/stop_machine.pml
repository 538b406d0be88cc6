/*
 * tests/model/stop_machine.pml — the stop-machine strategies in Promela
 * (spin), as strategies/stop_machine/ runs them: the patcher stops every
 * other CPU, writes the new bytes directly (no int3), serializes and
 * releases; each stopped CPU serializes before it leaves.
 *
 * The site, the fetched copies and serialization are common.pml's. A
 * stopped CPU's fetch hardware keeps refreshing parts of its copy while
 * it spins (nothing stops prefetch), and the handler it spins in runs its
 * own path's site when it leaves the spin (patch_on_nmi() runs before the
 * NMI path's site; lab/context_sites_code.asm).
 *
 *   patcher                          bystander i
 *   -------                          -----------
 *   how = NMI (IPI); pending[i]      thread: refresh a part, or run the
 *   wait: every CPU arrived  <-----    site (whole, never an int3 here)
 *   first = NEW                      the stop NMI (IPI) within LATE steps:
 *   tail = NEW                         NMI entry serializes (IRQ entry
 *   serialize (sync_core)              does not); arrived; spin until
 *   release = true  ------------->     release (the fetch hardware may
 *   wait: every CPU left     <-----    refresh a part meanwhile); serialize;
 *   done                               left; the handler runs its path's
 *                                      site; IRET (serializes)
 *
 * By default the model is stop-machine-nmi: the CPUs spin inside an NMI
 * handler, so their own NMIs wait. Checked (tests/model/check.sh): no torn
 * execution (assert), no invalid end state, and, under weak fairness, the
 * batch completes (ltl complete). What is expected to be unsafe, and
 * refuted with a trail:
 *   BY_IPI         stop-machine: the CPUs spin in an IRQ handler, where
 *                  NMIs still arrive, serialize and run the NMI path's
 *                  site while it is half written (with NO_NMI too: no NMI
 *                  ever arrives, and it verifies: safe against IRQs only)
 *   PATCHER_NMI    the patcher's own NMI between its writes: NMIs are not
 *                  blocked on the patching CPU, and stop_on_nmi() lets it
 *                  run the NMI path's site
 *   MCE            a #MC on a CPU spinning in the NMI handler: NMI
 *                  blocking does not hold #MC back, and the #MC path runs
 *                  its site
 * Mutants of stop-machine-nmi, each refuted with a trail:
 *   MUTANT_EARLY_RELEASE           release before the writes are complete
 *   MUTANT_NO_SERIALIZE_ON_LEAVE   a spinner leaves without sync_core():
 *                                  its handler runs the site from a copy
 *                                  refreshed part by part while it spun
 *   MUTANT_NO_ARRIVE_WAIT          the writes do not wait for every CPU
 *                                  to arrive
 */
#define NCPU (NBY + 1)                  /* the patching CPU is NBY */
#define P NBY
#include "common.pml"

bool stopping;                          /* stop_state.how != STOP_NONE */
bool arrived[NBY], left[NBY];
bool release;

/* An NMI (#MC) taken while spinning: entry serializes, its path runs
 * the site, IRET (serializes) back into the spin. */
inline trap_runs_site(i) {
	serialize(i);
	check_copy(i);
	serialize(i)
}

/* The patching CPU's own NMI (PATCHER_NMI): stop_on_nmi() does not stop
 * it; the NMI path runs its site. */
inline patcher_nmi() {
#ifdef PATCHER_NMI
	if
	:: skip
	:: trap_runs_site(P)
	fi
#else
	skip
#endif
}

/* Wait until every bystander's flag in ARRAY is set (j counts). */
#define WAIT_EVERY(ARRAY) \
	j = 0; \
	do \
	:: j < NBY -> ARRAY[j]; j++ \
	:: else -> break \
	od

active proctype patcher() {
	byte j;
	f_first[P] = OLD;
	f_tail[P] = OLD;
	atomic {                        /* how = IPI | NMI; IPI or NMI all but self */
		stopping = true;
		j = 0;
		do
		:: j < NBY -> pending[j] = true; j++
		:: else -> break
		od
	};
#ifndef MUTANT_NO_ARRIVE_WAIT
	WAIT_EVERY(arrived);
#endif
	first = NEW;                    /* text_poke_many(): memcpy, first byte first */
	patcher_nmi();
#ifdef MUTANT_EARLY_RELEASE
	release = true;
#endif
	tail = NEW;
	patcher_nmi();
	serialize(P);                   /* sync_core() */
	release = true;
	WAIT_EVERY(left);
	stopping = false;               /* how = STOP_NONE */
	done = true
}

/* The stop IPI's handler (BY_IPI), or the NMI handler: join, spin until
 * released, serialize, leave; then the handler's own site, and IRET. */
inline stopped(i) {
#ifndef BY_IPI
	serialize(i);                   /* NMI entry: sync_core() (patch_trap_enter) */
#endif
	if
	:: stopping && !arrived[i] ->
		arrived[i] = true;
		do
		:: release -> break
		:: !release -> refresh_one(i)   /* prefetch goes on while it spins */
#if defined(BY_IPI) && !defined(NO_NMI)
		:: !release -> trap_runs_site(i)        /* an NMI: not blocked in an IRQ handler */
#endif
#ifdef MCE
		:: !release -> trap_runs_site(i)        /* a #MC: NMI blocking does not hold it */
#endif
		od;
#ifndef MUTANT_NO_SERIALIZE_ON_LEAVE
		serialize(i);           /* sync_core(): the writes are done */
#endif
		left[i] = true
	:: else -> skip
	fi;
	check_copy(i);                  /* the handler's path runs its site */
	serialize(i)                    /* IRET */
}

active [NBY] proctype bystander() {
	byte i = _pid - 1;
	f_first[i] = OLD;
	f_tail[i] = OLD;
	do
	:: done -> break
	:: atomic { pending[i] -> pending[i] = false; late[i] = 0 };     /* the stop IPI or NMI */
	   stopped(i)
	:: thread_step(i);
	   if
	   :: refresh_one(i)            /* the fetch hardware, one part */
	   :: check_copy(i)             /* thread context runs the site */
#ifndef BY_IPI
	   :: stopped(i)                /* an NMI from elsewhere: while a stop is
	                                 * wanted, the first one spins (stop_on_nmi) */
#elif !defined(NO_NMI)
	   :: trap_runs_site(i)         /* an NMI from elsewhere */
#endif
	   fi
	od
}

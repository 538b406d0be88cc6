/*
 * tests/model/int3.pml — the int3 protocol in Promela (spin), as
 * strategies/int3/int3.c and the core's rendezvous and #BP rules run it.
 *
 * One patcher replaces a two-part instruction (first byte, tail) that
 * NBY bystanders keep executing. What makes cross-modifying code hard is
 * modelled by each bystander's fetched copy of the site: the fetch
 * hardware may refresh either byte on its own at any time, and a
 * serializing event (the rendezvous IPI, IRET from #BP, NMI entry)
 * refreshes both. Executing the site from a copy that is half old, half
 * new is a torn instruction: the assertion.
 *
 *   patcher                     bystander i (any time, any order)
 *   -------                     ---------------------------------
 *   first = INT3                refresh one fetched byte
 *   sync                        take the sync IPI: serialize, ack
 *   tail = NEW                  execute the site from its fetched copy:
 *   sync                          INT3: #BP (in_bp): ack, emulate, IRET
 *   first = NEW                         (serializes); an NMI may nest in
 *   sync                                it: raises bp_nested, serializes,
 *   done                                executes the site itself
 *                                 else: must be all old or all new
 *
 * An IPI is taken within LATE steps of a bystander that has it pending
 * (its IRQs are on outside the handlers; a real CPU takes it eventually).
 *
 * sync: set every bystander's pending bit, then wait until none is set;
 * while waiting, a bystander inside #BP with no NMI nested in it
 * (in_bp && !bp_nested) counts as acknowledged (patch/rendezvous.h).
 * The site, the fetched copies, serialization and sync are common.pml's,
 * which the other models share.
 *
 * Checked (tests/model/check.sh): no torn execution (assert), no invalid
 * end state, and, under weak fairness, the batch completes (ltl). Each
 * MUTANT_* must be refuted with a trail:
 *   MUTANT_NO_WAIT         sync waits for nobody
 *   MUTANT_NO_MIDDLE_SYNC  no sync between tails and first bytes (int3-2round:
 *                          safe only if the hardware never refreshes the
 *                          first byte without the tail, which this model,
 *                          like Intel's rule for cross-modifying code, allows)
 *   MUTANT_NO_BP_NESTED    an NMI inside #BP does not withdraw the claim
 *   MUTANT_NO_SERIALIZE_ON_RETURN  #BP returns without serializing (a return
 *                          without IRET into an NMI handler, and no
 *                          sync_core(): arch/x86/traps.c)
 *
 * DEFER models deferred idle (patch.defer_idle, patch/trap.c): a bystander
 * may halt in the idle loop (idle_deferred = 1; a halted CPU fetches
 * nothing); a round reads the flag after the writes and leaves a flagged
 * CPU out; a wake exchanges the flag to 0 and, if it was 1, serializes,
 * before the CPU runs anything. Its mutant:
 *   MUTANT_SERIALIZE_BEFORE_CLEAR  the wake serializes, then clears the flag
 */
#define NCPU NBY                        /* the patcher runs no site here */
#include "common.pml"

active proctype patcher() {
	byte j;
	bool all;
	first = INT3;                   /* Step 1 */
	sync();
	tail = NEW;                     /* Step 2 */
#ifndef MUTANT_NO_MIDDLE_SYNC
	sync();
#endif
	first = NEW;                    /* Step 3 */
	sync();
	done = true
}

/* Execute the site from the fetched copy: whole, or a trap to #BP, in
 * which an NMI may nest and run the site too. */
inline execute(i) {
	check_copy(i);
	if
	:: f_first[i] == INT3 ->
		in_bp[i] = true;                        /* #BP: the handler runs */
		bp_ack(i);                              /* it acknowledges the round */
		if
		:: skip
		:: /* an NMI nests in the handler, and runs the site */
#ifndef MUTANT_NO_BP_NESTED
		   bp_nested[i]++;
#endif
		   serialize(i);                        /* NMI entry serializes */
		   if                                   /* then the fetch hardware may */
		   :: f_first[i] = first                /* refresh a byte before the */
		   :: f_tail[i] = tail                  /* NMI handler reaches the site */
		   :: skip
		   fi;
		   check_copy(i);
		   if
		   :: f_first[i] == INT3 ->             /* nested #BP: acks, IRET back into the NMI */
			bp_ack(i);
			serialize(i)
		   :: else -> skip
		   fi;
#ifndef MUTANT_NO_BP_NESTED
		   bp_nested[i]--
#else
		   skip
#endif
		fi;
#ifndef MUTANT_NO_SERIALIZE_ON_RETURN
		atomic { serialize(i); in_bp[i] = false }   /* IRET, or sync_core() before a return without it */
#else
		in_bp[i] = false
#endif
	:: else -> skip
	fi
}

active [NBY] proctype bystander() {
	byte i = _pid - 1;
	f_first[i] = OLD;
	f_tail[i] = OLD;
	do
	:: done -> break
	:: halted[i] ->                 /* a wake: the IPI, or any interrupt */
#ifndef MUTANT_SERIALIZE_BEFORE_CLEAR
		atomic {
			if
			:: idle_deferred[i] -> idle_deferred[i] = false; serialize(i)
			:: else -> skip
			fi
		};
#else
		serialize(i);
		idle_deferred[i] = false;
#endif
		halted[i] = false
	:: sync_ipi(i)
	:: thread_step(i);
	   if
	   :: refresh_one(i)            /* the fetch hardware, one byte */
	   :: execute(i)
#ifdef DEFER
	   :: !pending[i] -> atomic { idle_deferred[i] = true; halted[i] = true }    /* idle: sti; hlt */
#endif
	   fi
	od
}


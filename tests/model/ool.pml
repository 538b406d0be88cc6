/*
 * tests/model/ool.pml — the ool (out-of-line) protocol in Promela (spin):
 * int3's writes and rounds; a CPU that hits the site's int3 is sent by its
 * #BP handler to an out-of-line copy of one whole instruction (the slot:
 * the copy, then a jump back past the site), written before the int3.
 *
 * The site, fetched copies, serialization and the rendezvous are
 * common.pml's; the slot is code too, so each CPU also has a fetched copy
 * of it (f_slot), which the fetch hardware may refresh at any time and a
 * serializing event refreshes (SERIALIZE_MORE). Which instruction the
 * slot holds (old or new, by phase) does not matter here: each is whole.
 * What does is that the CPU never runs the slot from a fetch older than
 * its copy, and that the slot is not reused (a later batch's copy, here
 * STALE again) while a CPU may still be inside it.
 *
 *   patcher                    bystander i
 *   -------                    -----------
 *   slot = READY               runs the site from its copy: whole, or int3:
 *   first = INT3                 #BP: ack; RIP = slot (in_slot); an NMI may
 *   sync                         nest and run the site (a nested #BP sends
 *   tail = NEW                   the NMI through the slot); return to the
 *   sync                         slot (serializes); run the copy; then,
 *   first = NEW                  interrupts allowed (the sync IPI), jump
 *   sync                         back (in_slot = 0)
 *   wait: no CPU in #BP or     takes the sync IPI (serialize, ack), also
 *     in the slot                inside the slot
 *   slot = STALE (reused)
 *   done
 *
 * The last round does not keep a CPU out of the slot (the sync IPI can
 * be taken inside it), and the pin a #BP handler takes ends with the
 * handler: the slot is reused only once no CPU is in #BP or between the
 * #BP's return and the jump back (in_slot: in strategies/ool/, a second
 * pin the #BP handler takes, dropped only by the way out of the slot).
 *
 * Checked (tests/model/check.sh): no torn execution, the slot never run
 * from a stale fetch or after reuse (slot_run_fresh), no invalid end
 * state, and, under weak fairness, the batch completes. Mutants, each
 * refuted with a trail:
 *   MUTANT_COPY_AFTER_INT3     the copy is written after the int3
 *   MUTANT_NO_SERIALIZE_ON_RETURN  #BP returns to the slot without
 *                              serializing (a stale prefetch of the slot)
 *   MUTANT_RECLAIM_AFTER_LAST_ROUND  the slot is reused once the last
 *                              round is done, without the wait
 */
#ifndef NBY
#define NBY 1                           /* -DNBY=2: tests/model/check.sh --deep */
#endif
#define NCPU NBY                        /* the patcher runs no site here */
#define SERIALIZE_MORE(i) ; f_slot[i] = slot
#include "common.pml"

mtype = { STALE, READY };
mtype slot = STALE;                     /* memory: the slot area */
mtype f_slot[NCPU];                     /* each CPU's fetched copy of it */
bool in_slot[NCPU];                     /* between the #BP's return and the jump back: pinned */

active proctype patcher() {
	byte j;
	bool all;
#ifndef MUTANT_COPY_AFTER_INT3
	slot = READY;                   /* the copy, before the int3 */
#endif
	first = INT3;                   /* Step 1 */
#ifdef MUTANT_COPY_AFTER_INT3
	slot = READY;
#endif
	sync();
	tail = NEW;                     /* Step 2 */
	sync();
	first = NEW;                    /* Step 3 */
	sync();
#ifndef MUTANT_RECLAIM_AFTER_LAST_ROUND
	j = 0;                          /* retirement: nobody in #BP or the slot */
	do
	:: j < NBY -> !in_bp[j] && !in_slot[j]; j++
	:: else -> break
	od;
#endif
	slot = STALE;                   /* reused by a later batch */
	done = true
}

/* Run the slot from the fetched copy: it must be the copy. */
inline run_slot(i) {
	assert(f_slot[i] == READY)      /* slot_run_fresh */
}

/* #BP's return to the slot. */
inline return_to_slot(i) {
#ifndef MUTANT_NO_SERIALIZE_ON_RETURN
	serialize(i)                    /* IRET, or sync_core() before a return without it */
#else
	skip
#endif
}

/* Run the site from the fetched copy: whole, or #BP, which sends the CPU
 * to the slot; an NMI may nest in the handler and run the site, its own
 * #BP sending it through the slot and back into the NMI. */
inline execute(i) {
	check_copy(i);
	if
	:: f_first[i] == INT3 ->
		in_bp[i] = true;
		bp_ack(i);
		if
		:: skip
		:: bp_nested[i]++;
		   serialize(i);                /* NMI entry */
		   if
		   :: refresh_one(i)
		   :: skip
		   fi;
		   check_copy(i);
		   if
		   :: f_first[i] == INT3 ->     /* nested #BP: ack, slot, jump back */
			bp_ack(i);
			return_to_slot(i);
			run_slot(i);
			run_slot(i)
		   :: else -> skip
		   fi;
		   bp_nested[i]--
		fi;
		atomic { in_slot[i] = true; return_to_slot(i); in_bp[i] = false };
		run_slot(i)                     /* the copy */
	:: else -> skip
	fi
}

active [NBY] proctype bystander() {
	byte i = _pid - 1;
	f_first[i] = OLD;
	f_tail[i] = OLD;
	f_slot[i] = STALE;
	do
	:: done && !in_slot[i] -> break
	:: sync_ipi(i)
	:: thread_step(i);
	   if
	   :: in_slot[i] ->             /* the jump back, maybe fetched anew */
		if
		:: f_slot[i] = slot
		:: skip
		fi;
		run_slot(i);
		in_slot[i] = false
	   :: !in_slot[i] -> refresh_one(i)
	   :: !in_slot[i] -> f_slot[i] = slot   /* the fetch hardware, the slot */
	   :: !in_slot[i] -> execute(i)
	   fi
	od
}

/*
 * tests/model/roll_forward.pml — the roll-forward protocol in Promela
 * (spin): int3's writes and rounds, no emulation. A bystander that hits
 * the site's int3 waits in #BP until the site is complete, then returns
 * (serializing) and runs it again; the patching CPU, when one of its own
 * handlers (IRQ, NMI, #MC) hits the site, completes it itself and runs it.
 *
 * The site, fetched copies, serialization and the rendezvous (sync, with
 * the in-#BP rule) are common.pml's. The patching CPU is CPU P: its
 * thread context (patcher) and one handler it takes at any moment
 * (own_handler; the thread does not run meanwhile: provided).
 *
 *   patcher (thread)        own handler (CPU P)       bystander i
 *   ----------------        -------------------       -----------
 *   first = INT3            entry (NMI, #MC:          runs the site from its
 *   sync; synced = 1          serializes; IRQ: may     copy: whole, or int3:
 *   tail = NEW                not), runs the site:     #BP: ack; wait until
 *   sync; synced = 2          int3: roll forward:        first != INT3,
 *   first = NEW               synced < 1: sync           acknowledging each
 *   sync; done                tail = NEW                 round meanwhile (an
 *                             synced < 2: sync           NMI may nest in the
 *                             first = NEW                wait, run the site,
 *                             serialize, run it          and wait in a nested
 *                             (never waits for P)        #BP); return
 *                                                        (serializes), run it
 *
 * The rounds the own handler runs itself (nested in the patcher's, which
 * then completes too: its bits were cleared after its writes) are what
 * make completing the site early safe under the fetch model: without
 * them, the first byte can go NEW while a bystander's copy still holds
 * the old tail (int3-2round's hazard), or the tail while a bystander has
 * not seen the int3. The patcher's later writes of the same bytes change
 * nothing.
 *
 * Checked (tests/model/check.sh): no torn execution, no invalid end state,
 * and, under weak fairness, the batch completes. Mutants, each refuted
 * with a trail:
 *   MUTANT_OWN_WAITS        the patcher's own handler waits like a bystander
 *   MUTANT_NO_NESTED_ROUNDS the roll-forward writes the rest and the first
 *                           byte and serializes, without rounds
 *   MUTANT_NO_NESTED_TAIL_ROUND  ... with the int3 round, without the tails
 *                           round (hpa: "not actually necessary per the
 *                           hardware guys", which the fetch model denies)
 *   MUTANT_FIRST_BEFORE_REST the roll-forward writes the first byte first
 *   MUTANT_WAIT_NO_ACK      a bystander waiting in #BP acknowledges only at
 *                           entry, leaving later rounds to the in-#BP rule
 *                           (which an NMI nested in the wait withdraws)
 *   MUTANT_NO_SERIALIZE_ON_RETURN  #BP returns without serializing
 * And LEAVE_EARLY, not a mutant: a bystander may leave #BP whenever it
 * likes, before the site is complete. It verifies: the site it runs again
 * traps again while the int3 is there, so the wait costs time, not
 * safety (what tears is a return that does not serialize).
 *
 * Not modelled: handlers nested in the patching CPU's handler (one
 * handler per run), and more than one bystander unless -DNBY=2.
 */
#ifndef NBY
#define NBY 1                           /* -DNBY=2: tests/model/check.sh --deep */
#endif
#define NCPU (NBY + 1)                  /* the patching CPU is NBY */
#define P NBY
#include "common.pml"

byte synced;                            /* rounds completed */
bool own_busy;                          /* CPU P is in its handler */
bool patching;                          /* the batch is being applied */

/* When a bystander waiting in #BP may leave: the site's first byte is no
 * longer the int3. LEAVE_EARLY: whenever it likes (it runs the site
 * again, which traps again while the int3 is there). */
#ifndef LEAVE_EARLY
#define SITE_COMPLETE (first != INT3)
#else
#define SITE_COMPLETE true
#endif

active proctype patcher() provided (!own_busy) {
	byte j;
	bool all;
	atomic { f_first[P] = OLD; f_tail[P] = OLD; patching = true };
	first = INT3;                   /* Step 1 */
	sync();
	atomic { serialize(P); synced = 1 }     /* the initiator's sync_core() */
	tail = NEW;                     /* Step 2 */
	sync();
	atomic { serialize(P); synced = 2 }
	first = NEW;                    /* Step 3 */
	sync();
	atomic { serialize(P); done = true }
}

/* Complete the site from CPU P's #BP. */
inline roll_forward() {
#ifdef MUTANT_FIRST_BEFORE_REST
	first = NEW;
	tail = NEW
#else
#ifndef MUTANT_NO_NESTED_ROUNDS
	if
	:: synced < 1 -> sync(); synced = 1     /* every CPU has seen the int3 */
	:: else -> skip
	fi;
#endif
	tail = NEW;
#if !defined(MUTANT_NO_NESTED_ROUNDS) && !defined(MUTANT_NO_NESTED_TAIL_ROUND)
	if
	:: synced < 2 -> sync(); synced = 2     /* every CPU has seen the tail */
	:: else -> skip
	fi;
#endif
	first = NEW
#endif
}

/* One IRQ, NMI or #MC on the patching CPU, at any moment before the end,
 * whose handler runs the site. */
active proctype own_handler() {
	byte j;
	bool all;
	atomic { patching && !done -> own_busy = true };
	if
	:: serialize(P)                 /* NMI, #MC entry */
	:: refresh_one(P)               /* IRQ entry: whatever was fetched */
	:: skip
	fi;
	check_copy(P);
	if
	:: f_first[P] == INT3 ->        /* #BP on the patching CPU */
#ifdef MUTANT_OWN_WAITS
		first != INT3;
#else
		roll_forward();
#endif
		serialize(P);           /* return: IRET, or sync_core() and RET */
		check_copy(P)           /* runs the site again */
	:: else -> skip
	fi;
	own_busy = false
}

/* In #BP: wait until the site's first byte is no longer the int3,
 * acknowledging the rounds that open meanwhile (its return serializes
 * before it runs patchable code: invariant 2 of rendezvous.h). */
inline bp_wait(i) {
	do
	:: SITE_COMPLETE -> break
#ifndef MUTANT_WAIT_NO_ACK
	:: pending[i] -> pending[i] = false
#endif
	od
}

/* The return from #BP, then the site again: the new instruction. */
inline bp_return(i) {
#ifndef MUTANT_NO_SERIALIZE_ON_RETURN
	serialize(i);                   /* IRET, or sync_core() before a return without it */
#endif
	check_copy(i)
}

/* Run the site from the fetched copy: whole, or #BP, in whose wait an
 * NMI may nest, run the site, and wait in a nested #BP. */
inline execute(i) {
	check_copy(i);
	if
	:: f_first[i] == INT3 ->
		in_bp[i] = true;
		bp_ack(i);
		nmi = false;
		do
		:: SITE_COMPLETE -> break
#ifndef MUTANT_WAIT_NO_ACK
		:: pending[i] -> pending[i] = false
#endif
		:: !nmi ->                      /* an NMI nests in the wait */
			nmi = true;
			bp_nested[i]++;
			serialize(i);           /* NMI entry */
			if
			:: refresh_one(i)
			:: skip
			fi;
			check_copy(i);          /* the NMI path runs the site */
			if
			:: f_first[i] == INT3 ->        /* nested #BP */
				bp_ack(i);
				bp_wait(i);
				bp_return(i)
			:: else -> skip
			fi;
			bp_nested[i]--
		od;
		atomic { bp_return(i); in_bp[i] = false }
	:: else -> skip
	fi
}

active [NBY] proctype bystander() {
	byte i = _pid - 2;
	bool nmi;
	f_first[i] = OLD;
	f_tail[i] = OLD;
	do
	:: done -> break
	:: sync_ipi(i)
	:: thread_step(i);
	   if
	   :: refresh_one(i)
	   :: execute(i)
	   fi
	od
}

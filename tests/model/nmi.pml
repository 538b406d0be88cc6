/*
 * tests/model/nmi.pml — the nmi protocol in Promela (spin): int3's writes
 * and rounds, applied by the patching CPU inside its own NMI handler (a
 * self-NMI), so that no NMI of its own meets a site in flight; a bystander
 * whose NMI arrives while the batch is in flight cannot take the sync IPI
 * there, so its NMI handler takes part in the rounds itself until the
 * writes and rounds are done (strategies/nmi/: sync_ack_owed, done_gen).
 *
 * The site, fetched copies, serialization and the rendezvous (sync, with
 * the in-#BP rule) are common.pml's. The patching CPU is CPU P: its
 * thread, whose self-NMI applies the batch (patcher), and one more NMI or
 * #MC it takes at any moment (own_handler; the patcher does not run
 * meanwhile: provided).
 *
 *   patcher (CPU P)            bystander i
 *   ---------------            -----------
 *   published                  thread: runs the site (whole, or int3: #BP
 *   self-NMI: NMIs blocked       acks and emulates, an NMI may nest there),
 *   first = INT3                 takes the sync IPI (serialize, ack)
 *   sync                       NMI: entry serializes; if the batch is in
 *   tail = NEW                   flight (published, not applied): until it
 *   sync                         is applied, serialize and ack each round
 *   first = NEW                  that opens (or give up: the wait's
 *   sync                         deadline); serialize; then the NMI path
 *   applied                      runs the site (int3: #BP in NMI, acks,
 *   IRET (NMIs unblocked)        emulates, serializing return); IRET
 *   done
 *
 * Checked (tests/model/check.sh): no torn execution, no invalid end state,
 * the batch completes under weak fairness (ltl complete), and the patching
 * CPU's own NMI never meets a site in flight (own_nmi_meets_whole_site).
 * A #MC on the patching CPU is not blocked by the NMI: it meets the site
 * in flight and, as in int3, an int3 there is emulated (int3's check).
 * Mutants, each refuted with a trail:
 *   MUTANT_NMI_NO_ACK          the bystander's NMI waits for the batch
 *                              without acknowledging (and without its
 *                              deadline, which would end the wait): the
 *                              patcher, in its NMI, waits for the ack of a
 *                              CPU whose NMI waits for the patcher (seed
 *                              002's deadlock)
 *   MUTANT_APPLY_OUTSIDE_NMI   the patcher applies in thread context: its
 *                              own NMI meets the site's int3 (which int3
 *                              would emulate; what the nmi strategy
 *                              promises is that it never meets one)
 */
#ifndef NBY
#define NBY 1                           /* -DNBY=2: tests/model/check.sh --deep */
#endif
#define NCPU (NBY + 1)                  /* the patching CPU is NBY */
#define P NBY
#include "common.pml"

bool published;                         /* the batch is live */
bool applied;                           /* its writes and rounds are done */
bool patcher_in_nmi;                    /* CPU P runs its self-NMI: NMIs blocked */
bool own_busy;                          /* CPU P is in own_handler */

active proctype patcher() provided (!own_busy) {
	byte j;
	bool all;
	atomic { f_first[P] = OLD; f_tail[P] = OLD; published = true };
#ifndef MUTANT_APPLY_OUTSIDE_NMI
	atomic { serialize(P); patcher_in_nmi = true };        /* the self-NMI: entry serializes */
#endif
	first = INT3;                   /* Step 1 */
	sync();
	tail = NEW;                     /* Step 2 */
	sync();
	first = NEW;                    /* Step 3 */
	sync();
	applied = true;                 /* done_gen = gen */
	atomic { serialize(P); patcher_in_nmi = false };       /* IRET */
	done = true
}

/* The patching CPU's own NMI (blocked while it applies) or #MC, once, at
 * any moment while the batch is live. Entry serializes; the handler's
 * path runs the site. */
active proctype own_handler() {
	atomic { published && !done -> own_busy = true };
	serialize(P);
	if
	:: !patcher_in_nmi ->           /* an NMI: it must meet the site whole */
		assert(f_first[P] != INT3 && f_first[P] == f_tail[P])   /* own_nmi_meets_whole_site */
	:: true ->                      /* a #MC: int3 emulates a site in flight */
		check_copy(P)
	fi;
	serialize(P);                   /* IRET, or sync_core() and RET */
	own_busy = false
}

/* A bystander's NMI handler: patch_on_nmi() (the strategy's on_nmi),
 * then the NMI path's site. */
inline nmi_handler(i) {
	serialize(i);                   /* NMI entry: sync_core() */
	if
	:: published && !applied ->
		do
		:: applied -> break
#ifndef MUTANT_NMI_NO_ACK
		:: pending[i] -> serialize(i); pending[i] = false       /* sync_ack_owed() */
		:: break                        /* NMI_WAIT_US expired: it goes on */
#endif
		od;
		serialize(i)                    /* sync_core() */
	:: else -> skip
	fi;
	if                              /* the fetch hardware may refresh a part */
	:: refresh_one(i)               /* before the handler reaches the site */
	:: skip
	fi;
	check_copy(i);
	if
	:: f_first[i] == INT3 ->        /* #BP in NMI: acks, emulates, returns serializing */
		bp_ack(i);
		serialize(i)
	:: else -> skip
	fi
}

/* Run the site from the fetched copy: whole, or #BP: ack, emulate (an
 * NMI may nest in the handler), return serializing. */
inline execute(i) {
	check_copy(i);
	if
	:: f_first[i] == INT3 ->
		in_bp[i] = true;
		bp_ack(i);
		if
		:: skip
		:: bp_nested[i]++;
		   nmi_handler(i);
		   bp_nested[i]--
		fi;
		atomic { serialize(i); in_bp[i] = false }
	:: else -> skip
	fi
}

active [NBY] proctype bystander() {
	byte i = _pid - 2;
	f_first[i] = OLD;
	f_tail[i] = OLD;
	do
	:: done -> break
	:: sync_ipi(i)
	:: thread_step(i);
	   if
	   :: refresh_one(i)
	   :: execute(i)
	   :: nmi_handler(i);
	      serialize(i)              /* IRET */
	   fi
	od
}

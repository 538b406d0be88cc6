/*
 * tests/model/common.pml — what the models of tests/model/ share: one
 * patch site, each CPU's fetched copy of it, serialization, and the
 * core's rendezvous (patch/rendezvous.c) with its in-#BP rule and
 * deferred idle. Each model includes it after defining NCPU (how many
 * CPUs have a fetched copy: the bystanders 0..NBY-1, and the patching
 * CPU as NBY where the model lets its own handlers run sites).
 *
 * The site is a two-part instruction: its first byte and its tail. What
 * makes cross-modifying code hard is modelled by each CPU's fetched copy
 * (f_first, f_tail): the fetch hardware may refresh either part on its
 * own at any time (refresh_one), and a serializing event (IRET, the
 * sync IPI's sync_core(), NMI and #MC entry) refreshes both
 * (serialize). Executing the site from a copy that is half old, half new
 * is a torn instruction (check_copy asserts it never happens).
 *
 * The rendezvous (sync): the initiator sets every bystander's pending
 * bit after its writes, then waits until none is set; a bystander clears
 * its own bit when it serializes in the sync IPI (sync_ipi), or in #BP;
 * while waiting, the initiator clears the bit of a bystander inside #BP
 * with no NMI or #MC nested in it (in_bp && !bp_nested: its return
 * serializes before it runs patchable code). A pending IPI is taken
 * within LATE steps of the bystander's thread context (thread_step
 * counts them; its IRQs are on there, a real CPU takes it eventually).
 *
 * DEFER: a round leaves out a bystander halted in the idle loop with
 * idle_deferred set (patch.defer_idle, patch/trap.c); int3.pml models
 * the halt and the wake.
 */
#ifndef NBY
#define NBY 2
#endif
#ifndef LATE
#define LATE 3                          /* steps a pending IPI may wait */
#endif

mtype = { OLD, NEW, INT3 };
mtype first = OLD, tail = OLD;          /* memory */
mtype f_first[NCPU], f_tail[NCPU];      /* each CPU's fetched copy */
bool pending[NCPU];                     /* the round's acknowledgement mask */
bool in_bp[NCPU];                       /* inside the #BP handler (bp_refs) */
byte bp_nested[NCPU];                   /* NMIs and #MCs nested in it */
bool done;                              /* the batch is complete */
byte late[NCPU];                        /* steps taken with the IPI pending */
bool idle_deferred[NCPU];               /* DEFER: halted in the idle loop, may be left out */
bool halted[NCPU];

/* A serializing event: the fetched copy is memory's (and, where a model
 * has more code than the site, SERIALIZE_MORE refreshes that too). */
#ifndef SERIALIZE_MORE
#define SERIALIZE_MORE(i)
#endif
inline serialize(i) {
	f_first[i] = first;
	f_tail[i] = tail
	SERIALIZE_MORE(i)
}

/* The fetch hardware refreshes one part of the copy, on its own. */
inline refresh_one(i) {
	if
	:: f_first[i] = first
	:: f_tail[i] = tail
	fi
}

/* Executing the site from the fetched copy, outside a trap: whole or
 * trapping, never torn. */
inline check_copy(i) {
	assert(f_first[i] == INT3 || f_first[i] == f_tail[i])
}

/* The sync IPI, in a bystander's thread context: serialize, acknowledge. */
inline sync_ipi(i) {
	atomic { !halted[i] && pending[i] -> serialize(i); pending[i] = false; late[i] = 0 }
}

/* A step of a bystander's thread context, allowed while no IPI has been
 * pending for LATE steps. */
inline thread_step(i) {
	atomic { !halted[i] && (!pending[i] || late[i] < LATE) -> late[i] = (pending[i] -> late[i] + 1 : 0) }
}

/* #BP acknowledges the round at entry (sync_ack in patch_on_bp). */
inline bp_ack(i) {
	if
	:: pending[i] -> pending[i] = false
	:: else -> skip
	fi
}

/* sync_all_cpus(): uses the caller's byte j and bool all. */
inline sync() {
	atomic {
		j = 0;
		do
		:: j < NBY ->
#ifdef DEFER
			if
			:: idle_deferred[j] -> skip     /* left out: it serializes when it wakes */
			:: else -> pending[j] = true
			fi;
#else
			pending[j] = true;
#endif
			j++
		:: else -> break
		od
	}
#ifndef MUTANT_NO_WAIT
	do
	:: atomic {
		all = true;
		j = 0;
		do
		:: j < NBY ->
			if
			:: pending[j] && in_bp[j] && bp_nested[j] == 0 -> pending[j] = false
			:: else -> skip
			fi;
			if
			:: pending[j] -> all = false
			:: else -> skip
			fi;
			j++
		:: else -> break
		od
	   };
	   if
	   :: all -> break
	   :: else -> skip
	   fi
	od
#endif
}

ltl complete { <> done }

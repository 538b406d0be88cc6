/*
 * arch/x86/mce.h — machine-check architecture: bank setup, the #MC handler,
 * polling for errors that raise no #MC, and how each error is graded.
 */
#ifndef XPOKE_ARCH_X86_MCE_H
#define XPOKE_ARCH_X86_MCE_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/regs.h"

/* MCi_STATUS and MCG_STATUS bits (Intel SDM vol. 3, 16.3.2). */
#define MCI_STATUS_VAL      (1ull << 63)    /* the bank holds an error */
#define MCI_STATUS_OVER     (1ull << 62)    /* another error was lost */
#define MCI_STATUS_UC       (1ull << 61)    /* uncorrected */
#define MCI_STATUS_EN       (1ull << 60)    /* reporting was enabled */
#define MCI_STATUS_MISCV    (1ull << 59)    /* MCi_MISC is valid */
#define MCI_STATUS_ADDRV    (1ull << 58)    /* MCi_ADDR is valid */
#define MCI_STATUS_PCC      (1ull << 57)    /* processor context corrupt */
#define MCI_STATUS_S        (1ull << 56)    /* signaled: software-recoverable */
#define MCI_STATUS_AR       (1ull << 55)    /* action required */
#define MCG_STATUS_RIPV     (1ull << 0)     /* the interrupted RIP is valid to return to */
#define MCG_STATUS_EIPV     (1ull << 1)     /* the error is at the interrupted RIP */
#define MCG_STATUS_MCIP     (1ull << 2)     /* a machine check is in progress */

/* Classes, in order of severity: a #MC is the worst of its banks. */
enum mce_class {
	MCE_CORRECTED,          /* no UC: corrected, raises no #MC */
	MCE_UCNA,               /* UC, no S: uncorrected, no action needed */
	MCE_SRAO,               /* UC|S, no AR: recoverable, action optional */
	MCE_SRAR,               /* UC|S|AR: action required: stops the machine */
	MCE_FATAL,              /* PCC, OVER with UC, or RIPV clear: stops it */
	MCE_CLASSES
};

/* Enable reporting in every bank MCG_CAP advertises (this CPU), after
 * reporting what the banks held from before this boot. */
void mce_init_this_cpu(void);

/* arch/x86/traps.c: vector 18. */
void mce_handle(struct regs *r);

/* Is a machine check in progress on this CPU (MCG_STATUS.MCIP)? Any
 * context, no lock, nothing patchable. */
bool mce_in_progress(void);

/* arch/x86/mce_entry.asm: where the #MC frame r (on the #MC IST stack) is
 * moved to, below the interrupted RSP; stops the machine by name when it
 * cannot be moved. */
uintptr_t mce_frame_dest(struct regs *r);

/* Tests: fn runs at the end of every outermost #MC handler that continues
 * (after its log; MCIP has long been clear), in #MC context. NULL removes
 * it. A dwell there lets the host nest machine checks for certain. */
void mce_set_test_hook(void (*fn)(struct regs *r));

/* The class of one bank's error. mcg: MCG_STATUS of the #MC that reported
 * it (in_mce), or unused when it was found by polling. Any context. */
enum mce_class mce_grade(uint64_t status, uint64_t mcg, bool in_mce);

/* "corrected", "UCNA", "SRAO", "SRAR", "fatal": the words of every log line. */
const char *mce_class_name(enum mce_class c);

/* Log, count and clear the errors in this CPU's banks that raise no #MC
 * (corrected ones); boot: also any error left from before this boot. The
 * number found. Thread context. */
unsigned mce_poll(bool boot);

/* mce_poll() on every online CPU (by on_cpu); the number found. Thread
 * context. */
unsigned mce_poll_all(void);

#endif

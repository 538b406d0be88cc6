/*
 * strategies/registry.c — every patching strategy, one line each. The
 * first is the default unless patch.strategy=NAME says otherwise.
 */
#include <stddef.h>
#include "strategies/int3/int3.h"
#include "strategies/int3_2round/int3_2round.h"
#include "strategies/nmi/nmi.h"
#include "strategies/ool/ool.h"
#include "strategies/roll_forward/roll_forward.h"
#include "strategies/stop_machine/stop_machine.h"

const struct patch_strategy *const patch_strategies[] = {
	&int3_strategy,         /* strategies/int3/: Linux's text_poke_bp */
	&int3_2round_strategy,  /* strategies/int3_2round/: hpa's two-round variant */
	&nmi_strategy,          /* strategies/nmi/: int3's steps inside the patching CPU's own NMI */
	&stop_machine_strategy, /* strategies/stop_machine/: other CPUs spin in an IRQ handler */
	&stop_machine_nmi_strategy,     /* ... in an NMI handler */
	&ool_strategy,          /* strategies/ool/: #BP runs an out-of-line copy of the instruction */
	&roll_forward_strategy, /* strategies/roll_forward/: bystanders wait in #BP, the patcher completes its own */
	NULL
};

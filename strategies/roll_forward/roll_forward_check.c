/*
 * strategies/roll_forward/roll_forward_check.c — what the roll-forward
 * strategy needs of a site beyond the core's checks. Nobody executes a
 * site in flight (bystanders wait in #BP, the patching CPU completes it
 * first), so nothing is emulated and any one instruction will do, except:
 *   - one that changes control flow where the core cannot check it (the
 *     stop-machine strategies' rule, whose check this reuses: the core
 *     checks where nop, ret and relative call/jmp/jcc go, nothing else);
 *   - one that begins with 03. A CPU that traps on a site's int3 but looks
 *     only after the batch has retired (patch/trap.c, "Missed batches")
 *     finds the new first byte at the trapping address; if the byte before
 *     the site is CD, "CD 03" reads as an int $3 and the CPU would resume
 *     after it, inside the new instruction. int3 never writes such a byte
 *     (it writes call, jmp, jcc, nop, ret); a strategy that writes any
 *     instruction must keep 03 out of first bytes (patch/trap.c's header).
 * Builds for the kernel and for the host.
 */
#include "strategies/roll_forward/roll_forward_check.h"
#include "strategies/stop_machine/stop_machine_check.h"

int roll_forward_check_site(const struct poke_site *site, char *why, size_t why_len)
{
	int err = stop_machine_check_site(site, why, why_len);
	if (err)
		return err;
	if (site->new[0] == 0x03)
		return patch_refuse(PATCH_EFIRST_BYTE_03, why, why_len, site->addr,
				    "the #BP handler could take it for the end of an int $3 (CD 03)");
	return 0;
}

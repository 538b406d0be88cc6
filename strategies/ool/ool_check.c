/*
 * strategies/ool/ool_check.c — what the out-of-line strategy needs of a
 * site beyond the core's checks (patch/strategy.h: check). Builds for the
 * kernel and for the host (tests/host/test_ool.c).
 *
 * A CPU that hits the site's int3 runs an out-of-line copy of its old or
 * its new instruction, depending on the phase (ool.c), somewhere in the
 * slot area: so both must have a copy (ool_reloc.c), wherever in the area
 * the batch puts it. A RIP-relative displacement grows or shrinks
 * monotonically with the copy's address, so a copy built at each end of
 * the area reaches whatever a copy anywhere between reaches.
 *
 * Branch targets. The core checks where a new relative call, jmp or jcc
 * lands (no prefixes); a copy of one goes exactly there, and a prefixed
 * one is refused (PATCH_EBRANCH_UNCHECKED), as is any other relative
 * operand. An indirect call or jmp lands wherever its register or memory
 * says when it runs, as every indirect branch of the kernel does: no
 * check can say more at patch time, and its copy goes to the same place.
 *
 * The first byte. A #BP handler that looks only after the batch has
 * retired, and finds 03 after CD where its int3 was, takes the trap for an
 * "int $3" (patch/trap.c); the int3 strategy never writes 03 as a first
 * byte, and this one refuses to.
 */
#include "strategies/ool/ool_reloc.h"

#define INT_IMM3_SECOND_BYTE 0x03       /* "int $3" is CD 03 */

int ool_check_site(const struct poke_site *site, char *why, size_t why_len)
{
	static const enum ool_which order[] = { OOL_NEW, OOL_OLD };
	uint8_t copy[OOL_COPY_MAX];

	if (site->new[0] == INT_IMM3_SECOND_BYTE)
		return patch_refuse(PATCH_EFIRST_BYTE_03, why, why_len, site->addr,
				    "CD before it would read as int $3 to a #BP handler that looks late");
	for (unsigned w = 0; w < sizeof(order) / sizeof(order[0]); w++) {
		const uint8_t *bytes = order[w] == OOL_NEW ? site->new : site->old;
		uintptr_t ends[] = { ool_area.lo, ool_area.hi };
		for (unsigned e = 0; e < 2; e++) {
			int n = ool_build_copy(site->addr, bytes, site->len, order[w], ends[e], ool_area.exit, copy, why,
					       why_len);
			if (n < 0)
				return n;
		}
	}
	return 0;
}

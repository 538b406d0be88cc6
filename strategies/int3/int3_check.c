/*
 * strategies/int3/int3_check.c — what the int3 strategy needs of a site
 * beyond the core's checks: a CPU that hits the int3 mid-patch has the new
 * instruction executed by the #BP handler (int3_emulate.c), which can do
 * that only for a nop, a ret, and a relative call, jmp or jcc. Builds for
 * the kernel and for the host (tests/host, tests/fuzz).
 */
#include <Zydis/Zydis.h>
#include "strategies/int3/int3_check.h"

#ifdef XPOKE_KERNEL
#include "kernel/format.h"
#else
#include <stdio.h>
#endif

int int3_check_site(const struct poke_site *site, char *why, size_t why_len)
{
	char detail[96];

	if (site->emu.kind != EMU_OTHER)
		return 0;
	snprintf(detail, sizeof(detail), "%s (only call/jmp/jcc rel, nop, ret)",
		 ZydisMnemonicGetString((ZydisMnemonic)site->emu.mnemonic));
	return patch_refuse(PATCH_ENOT_EMULATABLE, why, why_len, site->addr, detail);
}

/*
 * strategies/stop_machine/stop_machine_check.c — what the stop-machine
 * strategies need of a site beyond the core's checks. Nobody executes a
 * site while it is written, so nothing needs emulating: any one
 * instruction will do, except one that changes control flow in a way the
 * core does not check (it checks where nop, ret and relative call/jmp/jcc
 * go; an indirect branch, loop, jrcxz, int, syscall... could go anywhere).
 * Builds for the kernel and for the host.
 */
#include <Zydis/Zydis.h>
#include "strategies/stop_machine/stop_machine_check.h"

#ifdef XPOKE_KERNEL
#include "kernel/format.h"
#else
#include <stdio.h>
#endif

int stop_machine_check_site(const struct poke_site *site, char *why, size_t why_len)
{
	char detail[96];
	ZydisDecoder d;
	ZydisDecodedInstruction insn;

	if (site->emu.kind != EMU_OTHER)
		return 0;               /* the core checked where it goes */
	ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&d, NULL, site->new, site->len, &insn)))
		return patch_refuse(PATCH_ENEW_UNDECODABLE, why, why_len, site->addr, NULL);
	switch (insn.meta.category) {
	case ZYDIS_CATEGORY_COND_BR:
	case ZYDIS_CATEGORY_UNCOND_BR:
	case ZYDIS_CATEGORY_CALL:
	case ZYDIS_CATEGORY_RET:
	case ZYDIS_CATEGORY_INTERRUPT:
	case ZYDIS_CATEGORY_SYSCALL:
	case ZYDIS_CATEGORY_SYSRET:
	case ZYDIS_CATEGORY_SYSTEM:
		snprintf(detail, sizeof(detail), "%s", ZydisMnemonicGetString(insn.mnemonic));
		return patch_refuse(PATCH_EBRANCH_UNCHECKED, why, why_len, site->addr, detail);
	default:
		return 0;
	}
}

/*
 * strategies/int3/int3_emulate.c — the int3 strategy's #BP side: a CPU that
 * executes the int3 of a site in flight has the site's new instruction
 * executed for it here, so nobody ever spins on a breakpoint. In the
 * no-patch region: everything here runs in #BP context, possibly nested in
 * NMI or #MC, on any CPU; it takes no lock, prints nothing, and calls
 * nothing patchable.
 */
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "strategies/int3/int3.h"

_Static_assert(PHASE_COUNT <= POKE_PHASES_MAX, "int3: too many phases for the core");
_Static_assert(INT3_STEP_COUNT <= POKE_STEPS_MAX, "int3: too many write steps for the core");

/* Does condition code cc (low nibble of Jcc) hold for rflags? #BP context:
 * pure computation. */
static bool cc_holds(uint8_t cc, uint64_t f)
{
	bool cf = f & 0x001, pf = f & 0x004, zf = f & 0x040, sf = f & 0x080, of = f & 0x800;
	bool r;
	switch (cc >> 1) {
	case 0: r = of; break;                  /* O */
	case 1: r = cf; break;                  /* B */
	case 2: r = zf; break;                  /* E */
	case 3: r = cf || zf; break;            /* BE */
	case 4: r = sf; break;                  /* S */
	case 5: r = pf; break;                  /* P */
	case 6: r = sf != of; break;            /* L */
	default: r = zf || sf != of; break;     /* LE */
	}
	return (cc & 1) ? !r : r;               /* odd codes are the negations */
}

/* #BP context. The frame's rsp is the interrupted stack pointer; an emulated
 * push lands just below it, in the gap arch/x86/entry.asm left by moving the
 * exception frame down. */
void emulate_insn(const struct emu_insn *emu, uintptr_t addr, struct regs *r)
{
	uintptr_t next = addr + emu->len;
	switch (emu->kind) {
	case EMU_NOP:
		r->rip = next;
		break;
	case EMU_JMP:
		r->rip = emu->target;
		break;
	case EMU_CALL:
		r->rsp -= 8;
		*(uint64_t *)r->rsp = next;
		r->rip = emu->target;
		break;
	case EMU_JCC:
		r->rip = cc_holds(emu->cc, r->rflags) ? emu->target : next;
		break;
	case EMU_RET:
		r->rip = *(uint64_t *)r->rsp;
		r->rsp += 8;
		break;
	default:
		panic("patch: site %#lx has no emulation (kind %u)", addr, emu->kind);
	}
}

/* #BP context, b pinned by patch_on_bp(). No lock, no print, nothing
 * patchable. */
bool int3_on_bp(const struct poke_batch *b, const struct poke_site *s, struct regs *r, enum bp_ctx ctx)
{
	(void)b;
	emulate_insn(&s->emu, s->addr, r);     /* the core acknowledged the round */
	patch_hazard(ctx);                      /* int3_hazards[] follow enum bp_ctx */
	return true;
}

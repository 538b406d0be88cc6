/*
 * arch/x86/serialize.h — make this CPU's instruction fetch see every store
 * that was globally visible before the call (cross-modifying code).
 */
#ifndef XPOKE_ARCH_X86_SERIALIZE_H
#define XPOKE_ARCH_X86_SERIALIZE_H

/* Pick the instruction from CPUID (once, at boot, before any rendezvous). */
void serialize_init(void);

/* Serialize this CPU's instruction stream. Any context: no lock, no print,
 * in the no-patch region. */
void sync_core(void);

/* "SERIALIZE" or "MOV to CR2". */
const char *sync_core_method(void);

#endif

/*
 * arch/x86/serialize.c — sync_core(): the serializing instruction of the
 * patch rendezvous and of every return without IRET. In the no-patch region.
 *
 * SERIALIZE where CPUID.07H:EDX[14] offers it (it serializes and does
 * nothing else); otherwise MOV to CR2, which the SDM lists as serializing
 * and which costs no stack frame, unlike an IRET-to-self. The value written
 * back is the one just read, so a #PF handler's CR2 is never disturbed (a
 * page fault cannot occur between the two instructions).
 */
#include "arch/x86/cpu.h"
#include "arch/x86/cpufeatures.h"
#include "arch/x86/serialize.h"

static int have_serialize;

void serialize_init(void)
{
	have_serialize = cpu_features.serialize;
}

/* Any context, NMI and #MC included: no lock, no print, nothing patchable. */
void sync_core(void)
{
	if (have_serialize) {
		__asm__ volatile(".byte 0x0f, 0x01, 0xe8" ::: "memory");     /* SERIALIZE */
	} else {
		uint64_t cr2 = read_cr2();
		write_cr2(cr2);
	}
}

const char *sync_core_method(void)
{
	return have_serialize ? "SERIALIZE" : "MOV to CR2";
}

/*
 * arch/x86/fwcfg.h — QEMU's fw_cfg device, read for facts the guest cannot
 * otherwise check (how many CPUs QEMU was given).
 */
#ifndef XPOKE_ARCH_X86_FWCFG_H
#define XPOKE_ARCH_X86_FWCFG_H

#include <stdbool.h>
#include <stdint.h>

bool fwcfg_present(void);
/* -smp's CPU count as QEMU reports it, or -1 without fw_cfg. */
int fwcfg_nb_cpus(void);

#endif

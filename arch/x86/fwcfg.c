/*
 * arch/x86/fwcfg.c — fw_cfg over I/O ports: write a 16-bit key to the
 * selector port, then read the item's bytes from the data port.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/fwcfg.h"

#define FW_CFG_PORT_SEL     0x510
#define FW_CFG_PORT_DATA    0x511
#define FW_CFG_SIGNATURE    0x00
#define FW_CFG_NB_CPUS      0x05

static void fwcfg_read(uint16_t key, void *buf, unsigned n)
{
	outw(FW_CFG_PORT_SEL, key);
	for (unsigned i = 0; i < n; i++)
		((uint8_t *)buf)[i] = inb(FW_CFG_PORT_DATA);
}

bool fwcfg_present(void)
{
	char sig[4];
	fwcfg_read(FW_CFG_SIGNATURE, sig, 4);
	return sig[0] == 'Q' && sig[1] == 'E' && sig[2] == 'M' && sig[3] == 'U';
}

int fwcfg_nb_cpus(void)
{
	if (!fwcfg_present())
		return -1;
	uint16_t n;
	fwcfg_read(FW_CFG_NB_CPUS, &n, 2);
	return n;
}

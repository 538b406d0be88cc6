/*
 * arch/x86/tsc.c — TSC calibration against the PIT.
 *
 * PIT channel 2 (the speaker channel, which needs no IRQ) runs a one-shot
 * countdown in mode 0; its OUT pin shows up in port 0x61 bit 5 when it hits
 * terminal count. The TSC is read right after the count is loaded and again
 * when OUT goes high. The median of several short runs is the calibration.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/panic.h"
#include "kernel/printk.h"

#define PIT_HZ          1193182u
#define PIT_CH2_DATA    0x42
#define PIT_CMD         0x43
#define PORT_61         0x61
#define P61_GATE2       0x01
#define P61_SPEAKER     0x02
#define P61_OUT2        0x20

uint64_t tsc_khz = 4000000;
uint64_t tsc_at_boot;

uint64_t pit_measure_tsc(unsigned ms)
{
	uint32_t count = PIT_HZ * ms / 1000;
	if (ms == 0 || count > 0xffff)
		return 0;

	outb(PORT_61, (inb(PORT_61) & ~P61_SPEAKER) | P61_GATE2);
	outb(PIT_CMD, 0xb0);            /* channel 2, lobyte/hibyte, mode 0, binary */
	outb(PIT_CH2_DATA, count & 0xff);
	outb(PIT_CH2_DATA, count >> 8); /* counting starts on the next PIT clock */
	uint64_t t0 = rdtsc();
	uint64_t t1 = t0;
	/* Bound the poll as if the TSC ran at 20 GHz: a dead PIT cannot hang us. */
	while (!(inb(PORT_61) & P61_OUT2)) {
		t1 = rdtsc();
		if (t1 - t0 > (uint64_t)ms * 20000000u)
			return 0;
	}
	t1 = rdtsc();
	return t1 - t0;
}

void tsc_calibrate(void)
{
	enum { RUNS = 3, MS = 20 };
	uint64_t v[RUNS];
	for (int i = 0; i < RUNS; i++) {
		v[i] = pit_measure_tsc(MS);
		if (!v[i])
			panic("tsc: PIT channel 2 never reached terminal count; cannot calibrate the TSC");
	}
	for (int i = 0; i < RUNS; i++)          /* sort three */
		for (int j = i + 1; j < RUNS; j++)
			if (v[j] < v[i]) {
				uint64_t t = v[i];
				v[i] = v[j];
				v[j] = t;
			}
	tsc_khz = v[RUNS / 2] / MS;
	printk("tsc: %llu.%03llu MHz (PIT, median of %d x %d ms)",
	       (unsigned long long)(tsc_khz / 1000), (unsigned long long)(tsc_khz % 1000), RUNS, MS);
}

/*
 * kernel/debug_anchor.c — a fixed, versioned table of where things are, for
 * the gdb extension (scripts/gdb/xpoke.py).
 *
 * gdb reads most kernel state by symbol and DWARF type (the kernel is built
 * with -g). The anchor adds what the extension must check before trusting
 * those names: a magic and a layout version, bumped whenever a structure
 * the extension reads changes meaning, and a few sizes to cross-check the
 * debug information against the running kernel.
 */
#include <stddef.h>
#include "kernel/percpu.h"
#include "patch/strategy.h"

#define XPOKE_DEBUG_MAGIC   0x78706f6b65646267ull   /* "xpokedbg" */
#define XPOKE_DEBUG_VERSION 2

/* Version 2: the strategies. Their names and phase names are read from
 * the kernel (struct patch_strategy: name, phase_names, nr_phases), never
 * copied into the extension; *current_strategy is the strategy of the
 * batch in flight or of the last one (NULL before patch_init: the first
 * strategy), and *current_phase the index of its
 * phase. Readable from the ELF file alone (static data), so host tools
 * can list the phases without booting. */
struct xpoke_debug {
	uint64_t magic;
	uint32_t version;
	uint32_t max_cpus;
	uint32_t percpu_size;
	uint32_t pad;
	const void *percpu_area;
	const void *online_mask;
	const struct patch_strategy *const *strategies;         /* NULL-terminated */
	const struct patch_strategy *const *current_strategy;
	const uint32_t *current_phase;
};

__attribute__((used))
const struct xpoke_debug xpoke_debug = {
	.magic = XPOKE_DEBUG_MAGIC,
	.version = XPOKE_DEBUG_VERSION,
	.max_cpus = MAX_CPUS,
	.percpu_size = sizeof(struct percpu),
	.percpu_area = percpu_area,
	.online_mask = &cpu_online_mask,
	.strategies = patch_strategies,
	.current_strategy = &poke_current_strategy,
	.current_phase = &poke_current_phase,
};

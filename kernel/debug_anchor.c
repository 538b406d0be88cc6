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
#include "patch/patch.h"

#define XPOKE_DEBUG_MAGIC   0x78706f6b65646267ull   /* "xpokedbg" */
#define XPOKE_DEBUG_VERSION 1

struct xpoke_debug {
	uint64_t magic;
	uint32_t version;
	uint32_t max_cpus;
	uint32_t percpu_size;
	uint32_t phase_count;
	const void *percpu_area;
	const void *online_mask;
};

__attribute__((used))
const struct xpoke_debug xpoke_debug = {
	.magic = XPOKE_DEBUG_MAGIC,
	.version = XPOKE_DEBUG_VERSION,
	.max_cpus = MAX_CPUS,
	.percpu_size = sizeof(struct percpu),
	.phase_count = PHASE_COUNT,
	.percpu_area = percpu_area,
	.online_mask = &cpu_online_mask,
};

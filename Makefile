# xpoke — one non-recursive Makefile.
#
#   make            build/xpoke.elf (+ .lst disassembly, .sym symbols)
#   make iso        build/xpoke.iso (console) and build/xpoke-test.iso (ktest=all)
#   make run        boot xpoke.iso under QEMU (-smp 8) on this terminal;
#                   LIVEPATCH="a.c b.c": with those livepatch payloads
#   make payload SRC=x.c   build/payloads/x.lp, a livepatch payload
#   make test       the stanzas of group ci in tests/boots.cfg: host checks
#                   (make lint among them), the failure paths and the console
#                   booted, the gdb race scenarios, QMP injection, then the
#                   test ISO at -smp 1, 2, 8
#   make test-gdb   only the gdb race scenarios (group gdb)
#   make model      the Promela models of the protocols (tests/model/, spin):
#                   each verifies, each mutant is refuted with a trail
#   make lint       scripts/lint.py: no call or jump leaves the no-patch region
#                   (NOPATCH_OBJS) but those scripts/lint-allow.txt names, and
#                   the #include layering; LINT_PART=--nopatch or --layering: one
#   make debug      QEMU held, gdb attached with the xp- commands
#   make debug-server  QEMU held, console here; attach gdb from elsewhere
#   make bench      figures: boot time, rendezvous and patch costs (group bench)
#   make compare    every strategy side by side (group compare), one boot per
#                   CPU count of COMPARE_SMP (default "2 8"): the idle
#                   workload and COMPARE_SECONDS (default 3) of the mixed
#                   storm each; tables, CSV and gnuplot charts in
#                   build/compare/ (scripts/compare.py)
#   make stress     60 s storms and 20000-flip tests at -smp 2 4 8 16 (group stress)
#   make matrix     the test ISO booted by plain QEMU: pc/q35, qemu64/max,
#                   -smp 1 2 3 8 64 and sparse APIC IDs (group matrix; slow:
#                   ~30 minutes)
#   make fuzz       the patch validator under libFuzzer (ASan+UBSan) for
#                   FUZZ_SECONDS (60) on tests/fuzz/corpus/; findings and new
#                   inputs go to build/fuzz/
#   make clean
#   V=1             show full commands
#
# Every boot of test, test-gdb, bench, stress and matrix is a stanza of
# tests/boots.cfg, run by scripts/boots.py: GROUP=g[,g] runs other groups,
# ONLY='glob[,glob]' stanzas by name (make test ONLY='gdb-*,ktest-smp2');
# `python3 scripts/boots.py --list` shows them.
#
# Knobs (xptools/qemu.py): SMP MEM CPU ACCEL MACHINE for every boot;
# CMDLINE and GDB=1 for run/debug. The stanzas fix their CPU counts (SMP
# only for bench) and read TEST_TIMEOUT, HOST_INJECT_SMP, STRESS_*,
# MATRIX_TIMEOUT, BENCH_RUNS and COMPARE_* (see tests/boots.cfg).
# MASS_N: functions in the tracer's generated corpus (default 38252).

BUILD   := build
V       ?= 0
ifeq ($(V),0)
Q       := @
say      = @echo "  $(1)  $(2)"
else
Q       :=
say      =
endif
OBJ     := $(BUILD)/obj
GEN     := $(BUILD)/gen

CC      := gcc
LD      := ld
NASM    := nasm
PYTHON  := python3

# Zydis 4.0.0 from Debian's source package, built freestanding into the
# kernel (scripts/fetch-zydis.sh); Zycore's headers from libzycore-dev.
ZYDIS_VER   := 4.0.0
ZYDIS_DIR   := $(BUILD)/zydis/zydis-$(ZYDIS_VER)
ZYDIS_STAMP := $(ZYDIS_DIR)/.xpoke-ok
ZYDIS_SRCS  := Decoder DecoderData Disassembler Encoder EncoderData Formatter FormatterATT \
               FormatterBase FormatterBuffer FormatterIntel MetaInfo Mnemonic Register Segment \
               SharedData String Utils Zydis
ZYDIS_OBJS  := $(addprefix $(OBJ)/zydis/,$(addsuffix .o,$(ZYDIS_SRCS)))

CFLAGS  := -std=gnu11 -O2 -g -ffreestanding -fno-stack-protector -fno-pic -fno-pie \
           -mno-red-zone -mgeneral-regs-only -mcmodel=kernel -fno-omit-frame-pointer \
           -fno-asynchronous-unwind-tables -fcf-protection=none -fno-strict-aliasing \
           -Wall -Wextra -Werror -I. -I$(GEN) -MMD -MP -DXPOKE_KERNEL \
           -DZYAN_NO_LIBC -DZYDIS_STATIC_BUILD -I$(ZYDIS_DIR)/include -isystem $(BUILD)/zydis/include-zycore
# Function tracing (clients/trace/): every C function outside the no-patch
# region starts with a 5-byte NOP (-mnop-mcount: no call to __fentry__)
# whose address is recorded in section __mcount_loc (linker.ld). The
# objects of NOFENTRY_OBJS are compiled without it: the no-patch region
# (its code never becomes a site) and the tracer, which traced code calls.
FENTRY_CFLAGS := -pg -mfentry -mrecord-mcount -mnop-mcount
NASMFLAGS := -f elf64 -g -F dwarf -w+all -Werror -I$(GEN)/ -I./
LDFLAGS := -nostdlib -static -z max-page-size=0x1000 -z noexecstack --no-dynamic-linker \
           --no-warn-rwx-segments   # the .boot segment is RWX on purpose: it runs before paging is final

BOOT_OBJS := \
	boot/multiboot2_header.o boot/entry32.o boot/trampoline.o boot/bootinfo.o

ARCH_OBJS := \
	arch/x86/entry.o arch/x86/mce_entry.o arch/x86/stack_switch.o \
	arch/x86/acpi.o arch/x86/apic.o arch/x86/cpufeatures.o arch/x86/dump.o \
	arch/x86/fwcfg.o arch/x86/gdt.o arch/x86/idt.o arch/x86/ioapic.o \
	arch/x86/irq.o arch/x86/mce.o arch/x86/nmi.o arch/x86/paging.o \
	arch/x86/pic.o arch/x86/pmm.o arch/x86/power.o arch/x86/serial.o \
	arch/x86/serialize.o arch/x86/smp.o arch/x86/traps.o arch/x86/tsc.o

KERNEL_OBJS := \
	kernel/recover_point.o \
	kernel/cmdline.o kernel/crc32.o kernel/crashtest.o kernel/debug_anchor.o kernel/errno.o kernel/format.o \
	kernel/callable.o kernel/ksyms.o kernel/ktest.o kernel/main.o kernel/panic.o kernel/percpu.o \
	kernel/printk.o kernel/recover.o kernel/shell.o kernel/shell_cmds.o \
	kernel/smp_call.o kernel/spinlock.o kernel/string.o

PATCH_OBJS := \
	patch/batch.o patch/disasm.o patch/env.o patch/insn.o patch/live.o patch/phase.o \
	patch/rendezvous.o patch/setup.o patch/site_table.o patch/stats.o patch/text_poke.o patch/trap.o \
	patch/validate.o patch/exec_regions.o

# The strategies (patch/strategy.h): one folder each, listed in
# strategies/registry.c.
STRATEGY_OBJS := \
	strategies/registry.o \
	strategies/int3/int3.o strategies/int3/int3_check.o strategies/int3/int3_emulate.o \
	strategies/int3/int3_steps.o strategies/int3/int3_selftest.o strategies/int3/int3_selftest_code.o \
	strategies/int3_2round/int3_2round.o \
	strategies/nmi/nmi.o strategies/nmi/nmi_trap.o \
	strategies/stop_machine/stop_machine.o strategies/stop_machine/stop_machine_check.o \
	strategies/stop_machine/stop_machine_trap.o strategies/stop_machine/stop_inside.o \
	strategies/ool/ool.o strategies/ool/ool_check.o strategies/ool/ool_reloc.o strategies/ool/ool_trap.o \
	strategies/ool/ool_slots.o \
	strategies/roll_forward/roll_forward.o strategies/roll_forward/roll_forward_check.o \
	strategies/roll_forward/roll_forward_trap.o

# The ftrace-style mass patcher (clients/trace/): no fentry NOP of its own.
TRACE_OBJS := \
	clients/trace/ftrace_sites.o clients/trace/trace_entry.o clients/trace/trace_hit.o \
	clients/trace/trace.o clients/trace/console.o

# Function livepatching (clients/livepatch/): the payload loader; nothing
# of it runs on an NMI, #MC or #BP path.
LIVEPATCH_OBJS := \
	clients/livepatch/elf_link.o clients/livepatch/lp_mem.o clients/livepatch/load.o

# Clients of the patch core (patch/patch.h): named sites with variants, and
# the console's poke/peek on any instruction.
CLIENT_OBJS := \
	clients/sites/sites.o clients/sites/console.o \
	clients/poke/console_poke.o clients/poke/poke_parse.o clients/poke/text_crc.o \
	clients/static_key/static_key.o clients/static_key/jump_table.o clients/static_key/console.o \
	clients/static_call/static_call.o clients/static_call/console.o \
	clients/imv/imv.o clients/imv/console.o \
	clients/alternative/features.o clients/alternative/site_bytes.o clients/alternative/apply_boot.o \
	clients/alternative/apply_nmi.o clients/alternative/repatch.o clients/alternative/console.o \
	$(TRACE_OBJS) $(LIVEPATCH_OBJS)
# Livepatch: apply, revert, replace, console (clients/livepatch/livepatch.h).
CLIENT_OBJS += clients/livepatch/apply.o clients/livepatch/console.o


# The lab: fixture sites of every context, storms and the bystander crew,
# which the tests (tests/kernel/) and the console use.
LAB_OBJS := \
	lab/context_sites_code.o lab/fixture_sites_code.o lab/ool_sites_code.o \
	lab/context_sites.o lab/fixture_sites.o lab/key_sites.o lab/ool_sites.o lab/crew.o lab/hist.o lab/stall.o lab/storm.o \
	lab/storm_handlers.o lab/static_calls.o lab/imvs.o lab/alt_sites.o lab/lp_demo.o
LAB_OBJS += lab/lp_targets.o lab/lp_targets_code.o

TEST_OBJS := \
	tests/kernel/traps_helpers.o tests/kernel/nmi_helpers.o \
	tests/kernel/test_smp.o tests/kernel/test_nmi.o tests/kernel/test_traps.o \
	tests/kernel/test_mm.o tests/kernel/test_printk.o tests/kernel/test_tsc.o \
	tests/kernel/test_runner.o tests/kernel/test_patch_core.o tests/kernel/test_patch_flip.o \
	tests/kernel/test_patch_batch.o tests/kernel/test_patch_refuse.o tests/kernel/test_static_key.o tests/kernel/bench_patch.o tests/kernel/bench_vs_linux.o tests/kernel/test_walk_cache.o \
	tests/kernel/test_storm.o tests/kernel/test_mce.o tests/kernel/host_control.o \
	tests/kernel/gdb_arena.o tests/kernel/bp_helpers.o tests/kernel/test_patch_bp.o \
	tests/kernel/test_patch_retire.o tests/kernel/test_patch_stop.o \
	tests/kernel/test_patch_rounds.o tests/kernel/test_patch_order.o tests/kernel/test_patch_nmi.o \
	tests/kernel/test_patch_ool.o tests/kernel/test_patch_rollfwd.o tests/kernel/test_stall.o \
	tests/kernel/compare_report.o tests/kernel/compare_strategies.o tests/kernel/compare_storm.o \
	tests/kernel/test_static_call.o tests/kernel/test_imv.o tests/kernel/test_alternative.o tests/kernel/test_trace.o tests/kernel/bench_trace.o tests/kernel/bench_livepatch.o \
	tests/kernel/test_livepatch_loader.o
TEST_OBJS += tests/kernel/lp_fake.o tests/kernel/test_livepatch.o tests/kernel/test_livepatch_storm.o
TEST_OBJS += tests/kernel/test_livepatch_payloads.o

# The mass patcher's corpus: MASS_N small functions (default 38252, the
# ftrace sites of a Debian 6.1 kernel), generated into $(GEN)/mass/ by
# scripts/gen-mass-corpus.py in MASS_FILES files (compiled side by side
# under -j), placed together in .text by linker.ld. The stamp's name holds
# MASS_N: a new value makes the corpus, and what includes mass_corpus.h,
# again.
MASS_N      ?= 38252
MASS_FILES  := 8
MASS_DIR    := $(GEN)/mass
MASS_STAMP  := $(MASS_DIR)/.n-$(MASS_N)
MASS_SRCS   := $(addprefix $(MASS_DIR)/,$(addsuffix .c,$(addprefix mass_corpus_,$(shell seq 0 $$(($(MASS_FILES) - 1)))) mass_table))
MASS_OBJS   := $(patsubst $(GEN)/%.c,$(OBJ)/gen/%.o,$(MASS_SRCS))

OBJS := $(addprefix $(OBJ)/,$(BOOT_OBJS) $(ARCH_OBJS) $(KERNEL_OBJS) $(PATCH_OBJS) $(STRATEGY_OBJS) $(CLIENT_OBJS) \
	$(LAB_OBJS) $(TEST_OBJS)) \
	$(MASS_OBJS) $(ZYDIS_OBJS)

# The no-patch region (__nopatch_start..__nopatch_end, at the start of .text):
# the objects whose code the #BP, NMI and #MC paths, the rendezvous and the
# text writer run, and everything they call (the panic and test-abort paths,
# which may start in NMI or #MC context, included). patch/validate.c refuses
# any patch site in here (PATCH_EPROTECTED), so those paths never execute a
# site that is being patched. Only the deliberate sites of the NMI, #MC and
# IRQ paths (lab/context_sites_code.asm) and test hooks lie outside:
# scripts/lint-allow.txt names each call to them.
# This is the one list: linker.ld places these objects' .text from the
# generated $(GEN)/nopatch.ld.inc, and scripts/lint.py (make lint) reads the
# same file. NOPATCH_ENTRY_OBJS come first, between __entry_start and
# __entry_end: the entry stubs and trap_dispatch, where an NMI must not
# abandon the interrupted work before it counts the new context
# (arch/x86/nmi.c: NMI_ABORT).
NOPATCH_ENTRY_OBJS := \
	arch/x86/entry.o arch/x86/mce_entry.o arch/x86/traps.o
NOPATCH_OBJS := \
	arch/x86/irq.o arch/x86/nmi.o arch/x86/mce.o arch/x86/serialize.o \
	arch/x86/paging.o arch/x86/power.o arch/x86/acpi.o arch/x86/apic.o \
	arch/x86/dump.o arch/x86/serial.o \
	kernel/printk.o kernel/format.o kernel/string.o kernel/panic.o \
	kernel/recover.o kernel/recover_point.o kernel/ksyms.o kernel/spinlock.o \
	kernel/percpu.o kernel/smp_call.o kernel/ktest.o \
	patch/trap.o patch/live.o patch/rendezvous.o patch/text_poke.o patch/phase.o \
	strategies/int3/int3_emulate.o strategies/int3/int3_steps.o strategies/nmi/nmi_trap.o \
	strategies/stop_machine/stop_machine_trap.o strategies/ool/ool_trap.o strategies/ool/ool_slots.o \
	strategies/roll_forward/roll_forward_trap.o lab/storm_handlers.o clients/alternative/apply_nmi.o

# The corpus needs no debug information nor optimisation (each function is
# its fentry NOP and a few instructions either way): a third of its -O2 -g
# compile time.
$(MASS_OBJS): CFLAGS += -g0 -O0

# Compiled without the fentry NOP: the no-patch region, the boot code and
# the tracer (FENTRY_CFLAGS).
NOFENTRY_OBJS := $(NOPATCH_ENTRY_OBJS) $(NOPATCH_OBJS) $(BOOT_OBJS) $(TRACE_OBJS)
$(addprefix $(OBJ)/,$(NOFENTRY_OBJS)): FENTRY_CFLAGS :=

# A linker script pattern that matches no object matches silently: an object
# renamed or moved must be renamed here too.
NOPATCH_UNLINKED := $(filter-out $(OBJS),$(addprefix $(OBJ)/,$(NOPATCH_ENTRY_OBJS) $(NOPATCH_OBJS)))
ifneq ($(NOPATCH_UNLINKED),)
$(error NOPATCH_ENTRY_OBJS/NOPATCH_OBJS name objects the kernel does not link: $(NOPATCH_UNLINKED))
endif

# Host tests: the validator and site table on Debian's libzydis, with cmocka.
HOST_CC     := gcc
HOST_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -I.
HOST_TESTS  := $(BUILD)/host/test_validate $(BUILD)/host/test_hist $(BUILD)/host/test_ool $(BUILD)/fuzz/fuzz_validate

# The fuzz target: the validator under libFuzzer with ASan and UBSan (every
# report fatal), and Zydis compiled from the fetched sources with the same
# sanitizers and coverage (fuzzer-no-link), not Debian's uninstrumented
# libZydis. Zycore's headers come from libzycore-dev.
FUZZ_CC     := clang-14
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror \
               -fsanitize=address,undefined -fno-sanitize-recover=all \
               -I. -DZYDIS_STATIC_BUILD -I$(ZYDIS_DIR)/include -isystem $(BUILD)/zydis/include-zycore
FUZZ_ZYDIS_SRCS := Decoder DecoderData Mnemonic Register SharedData Utils   # what the decoder needs
FUZZ_ZYDIS_OBJS := $(addprefix $(BUILD)/fuzz/zydis/,$(addsuffix .o,$(FUZZ_ZYDIS_SRCS)))
FUZZER      := $(BUILD)/fuzz/fuzz_validate

KERNEL  := $(BUILD)/xpoke.elf
ISO     := $(BUILD)/xpoke.iso
TEST_ISO := $(BUILD)/xpoke-test.iso

.PHONY: all iso payload lp-iso run test test-gdb lint debug debug-server bench stress matrix fuzz host-tests clean deps model compare
all: $(KERNEL)

# --- generated inputs ------------------------------------------------------

$(GEN)/asm-offsets.s: arch/x86/asm-offsets.c
	@mkdir -p $(@D)
	$(call say,GEN,$@)
	$(Q)$(CC) $(CFLAGS) -MF $(GEN)/asm-offsets.d -MT $@ -S -o $@ $<

$(GEN)/asm-offsets.inc: $(GEN)/asm-offsets.s
	$(Q)sed -n 's/.*->\([A-Za-z0-9_]*\) \(-\{0,1\}[0-9][0-9]*\).*/%define \1 \2/p' $< > $@.tmp
	$(Q)mv $@.tmp $@

# The placement lines of the no-patch region, from NOPATCH_ENTRY_OBJS and
# NOPATCH_OBJS (made again whenever the Makefile changes).
$(GEN)/nopatch.ld.inc: Makefile
	@mkdir -p $(@D)
	$(call say,GEN,$@)
	$(Q){ echo '/* Made by the Makefile from NOPATCH_ENTRY_OBJS and NOPATCH_OBJS: edit those, not this. */'; \
	  echo '#define NOPATCH_ENTRY_TEXT $(foreach o,$(NOPATCH_ENTRY_OBJS),*$(o)(.text .text.*))'; \
	  echo '#define NOPATCH_TEXT $(foreach o,$(NOPATCH_OBJS),*$(o)(.text .text.*))'; } > $@.tmp
	$(Q)mv $@.tmp $@

$(MASS_STAMP):
	@mkdir -p $(@D)
	$(Q)rm -f $(MASS_DIR)/.n-*
	$(Q)touch $@

$(MASS_SRCS) $(MASS_DIR)/mass_corpus.h &: $(MASS_STAMP) scripts/gen-mass-corpus.py
	$(call say,GEN,$(MASS_DIR)/ ($(MASS_N) functions))
	$(Q)$(PYTHON) scripts/gen-mass-corpus.py $(MASS_N) $(MASS_FILES) $(MASS_DIR)
	$(Q)touch $(MASS_SRCS) $(MASS_DIR)/mass_corpus.h

$(BUILD)/linker.lds: linker.ld arch/x86/layout.h $(GEN)/nopatch.ld.inc
	@mkdir -p $(@D)
	$(call say,LDS,$@)
	$(Q)$(CC) -E -P -x c -D__ASSEMBLER__ -I. -I$(GEN) $< -o $@

# --- compile ---------------------------------------------------------------

$(OBJ)/%.o: %.c | $(GEN)/asm-offsets.inc $(ZYDIS_STAMP) $(MASS_DIR)/mass_corpus.h
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) $(FENTRY_CFLAGS) -c -o $@ $<

# An edited fetch script fetches again (the script is a no-op while its
# stamp exists).
$(ZYDIS_STAMP): scripts/fetch-zydis.sh
	@rm -f $@
	scripts/fetch-zydis.sh

# The unpacked sources are named explicitly, so they are real files of the
# build, not intermediates of a pattern chain: make would otherwise delete
# them at the end of the first build, and every later build would fail on
# the .d files that name them.
ZYDIS_CSRCS := $(addprefix $(ZYDIS_DIR)/src/,$(addsuffix .c,$(ZYDIS_SRCS)))
$(ZYDIS_CSRCS): | $(ZYDIS_STAMP) ;

$(OBJ)/zydis/%.o: $(ZYDIS_DIR)/src/%.c | $(ZYDIS_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) $(FENTRY_CFLAGS) -I$(ZYDIS_DIR)/src -c -o $@ $<

$(OBJ)/%.o: %.asm $(GEN)/asm-offsets.inc
	@mkdir -p $(@D)
	$(call say,NASM,$<)
	$(Q)$(NASM) $(NASMFLAGS) -MD $(OBJ)/$*.d -MP -o $@ $<

# --- link three times: the last link embeds the symbol tables of the second
# The tables (kernel/ksyms.h) sit last in .rodata: their size moves .data
# and .bss but no text. Pass 1 has empty tables; pass 2 has pass 1's
# (the final size, data addresses still off); the kernel has pass 2's,
# and gen-ksyms.py --check proves that it moved no text or data symbol.

$(GEN)/ksyms-empty.c: scripts/gen-ksyms.py
	@mkdir -p $(@D)
	$(Q)$(PYTHON) scripts/gen-ksyms.py --empty $@

$(BUILD)/xpoke.pass1.elf: $(OBJS) $(OBJ)/gen/ksyms-empty.o $(BUILD)/linker.lds
	$(call say,LD,$@)
	$(Q)$(LD) $(LDFLAGS) -T $(BUILD)/linker.lds -o $@ $(OBJS) $(OBJ)/gen/ksyms-empty.o

$(GEN)/ksyms-pass1.c: $(BUILD)/xpoke.pass1.elf scripts/gen-ksyms.py
	$(call say,KSYMS,$@)
	$(Q)$(PYTHON) scripts/gen-ksyms.py $< $@

$(BUILD)/xpoke.pass2.elf: $(OBJS) $(OBJ)/gen/ksyms-pass1.o $(BUILD)/linker.lds
	$(call say,LD,$@)
	$(Q)$(LD) $(LDFLAGS) -T $(BUILD)/linker.lds -o $@ $(OBJS) $(OBJ)/gen/ksyms-pass1.o

$(GEN)/ksyms.c: $(BUILD)/xpoke.pass2.elf scripts/gen-ksyms.py
	$(call say,KSYMS,$@)
	$(Q)$(PYTHON) scripts/gen-ksyms.py $< $@

$(OBJ)/gen/%.o: $(GEN)/%.c
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(FENTRY_CFLAGS) -c -o $@ $<

$(KERNEL): $(OBJS) $(OBJ)/gen/ksyms.o $(BUILD)/linker.lds
	$(call say,LD,$@)
	$(Q)$(LD) $(LDFLAGS) -T $(BUILD)/linker.lds -o $@.tmp $(OBJS) $(OBJ)/gen/ksyms.o
	$(Q)$(PYTHON) scripts/gen-ksyms.py --check $@.tmp $(GEN)/ksyms.c
	$(Q)mv $@.tmp $@
	$(call say,LIST,$(BUILD)/xpoke.lst $(BUILD)/xpoke.sym)
	$(Q)objdump -d -M intel $@ > $(BUILD)/xpoke.lst
	$(Q)nm -n $@ > $(BUILD)/xpoke.sym

# --- host tests ------------------------------------------------------------

host-tests: $(HOST_TESTS)

$(BUILD)/host/test_validate: tests/host/test_validate.c patch/validate.c patch/site_table.c \
		strategies/int3/int3_check.c patch/validate.h patch/site_table.h patch/poke_types.h \
		strategies/int3/int3_check.h
	@mkdir -p $(@D)
	$(call say,HOSTCC,$@)
	$(Q)$(HOST_CC) $(HOST_CFLAGS) -o $@ tests/host/test_validate.c patch/validate.c patch/site_table.c \
		strategies/int3/int3_check.c -lZydis -lcmocka

$(BUILD)/host/test_hist: tests/host/test_hist.c lab/hist.c lab/hist.h kernel/string.h
	@mkdir -p $(@D)
	$(call say,HOSTCC,$@)
	$(Q)$(HOST_CC) $(HOST_CFLAGS) -o $@ tests/host/test_hist.c lab/hist.c -lcmocka

# The out-of-line strategy's copies and site check (strategies/ool/).
OOL_HOST_SRCS := strategies/ool/ool_reloc.c strategies/ool/ool_check.c patch/validate.c
$(BUILD)/host/test_ool: tests/host/test_ool.c $(OOL_HOST_SRCS) strategies/ool/ool_reloc.h patch/validate.h \
		patch/poke_types.h
	@mkdir -p $(@D)
	$(call say,HOSTCC,$@)
	$(Q)$(HOST_CC) $(HOST_CFLAGS) -o $@ tests/host/test_ool.c $(OOL_HOST_SRCS) -lZydis -lcmocka

$(BUILD)/fuzz/zydis/%.o: $(ZYDIS_DIR)/src/%.c | $(ZYDIS_STAMP)
	@mkdir -p $(@D)
	$(call say,FUZZCC,$<)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -I$(ZYDIS_DIR)/src -c -o $@ $<

$(FUZZER): tests/fuzz/fuzz_validate.c tests/fuzz/text_image.h patch/validate.c patch/site_table.c \
		strategies/int3/int3_check.c patch/validate.h patch/site_table.h patch/poke_types.h \
		strategies/int3/int3_check.h $(FUZZ_ZYDIS_OBJS)
	@mkdir -p $(@D)
	$(call say,FUZZLD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ tests/fuzz/fuzz_validate.c patch/validate.c \
		patch/site_table.c strategies/int3/int3_check.c $(FUZZ_ZYDIS_OBJS)

# --- images and runs -------------------------------------------------------

# --- livepatch payloads (clients/livepatch/payload.h) ----------------------
#
#   make payload SRC=path/to/name.c     build/payloads/name.lp
#   make run LIVEPATCH="a.c b.c"        boot with those payloads loaded
#
# scripts/lp-build.py compiles the source and fills in each replaced
# function's expected first bytes from the kernel ELF: a payload is built
# against one kernel, so a kernel rebuild rebuilds it. The test payloads
# (tests/livepatch/, good and bad: a source's `// lp-build:` and
# `// lp-mutate:` lines say how a bad one is made) go to $(LP_TEST_DIR).
LP_BUILD         = $(PYTHON) scripts/lp-build.py --kernel $(KERNEL)
LP_DEPS         := $(KERNEL) scripts/lp-build.py scripts/lp-mutate.py clients/livepatch/payload.h
LP_TEST_DIR     := $(BUILD)/lp-tests
LP_TEST_PAYLOADS := $(patsubst tests/livepatch/%.c,$(LP_TEST_DIR)/%.lp,$(sort $(wildcard tests/livepatch/*.c)))
# make bench's payloads (tests/kernel/bench_livepatch.c): the first 1, 10
# and 100 functions of the mass corpus replaced (scripts/gen-lp-bench.py).
LP_BENCH_SIZES   := 1 10 100
LP_TEST_PAYLOADS += $(foreach n,$(LP_BENCH_SIZES),$(LP_TEST_DIR)/bench_$(n).lp)
LP_RUN_PAYLOADS := $(foreach s,$(LIVEPATCH),$(BUILD)/payloads/$(basename $(notdir $(s))).lp)
LP_ISO          := $(BUILD)/xpoke-lp.iso

iso: $(ISO) $(TEST_ISO)

$(ISO): $(KERNEL) scripts/mkiso.sh
	$(Q)scripts/mkiso.sh $(KERNEL) $@ ""

# The test ISO, and every ISO the runner builds for a stanza's command line
# (scripts/xptools/qemu.py), carry the test payloads as modules.
$(TEST_ISO): $(KERNEL) scripts/mkiso.sh $(LP_TEST_PAYLOADS)
	$(Q)scripts/mkiso.sh $(KERNEL) $@ "ktest=all" $(LP_TEST_PAYLOADS)

$(LP_TEST_DIR)/%.lp: tests/livepatch/%.c $(LP_DEPS)
	$(call say,LP,$@)
	$(Q)$(LP_BUILD) -o $@ $< >/dev/null

$(GEN)/lp-bench/bench_%.c: scripts/gen-lp-bench.py
	$(Q)$(PYTHON) scripts/gen-lp-bench.py $* $@

$(LP_TEST_DIR)/bench_%.lp: $(GEN)/lp-bench/bench_%.c $(LP_DEPS)
	$(call say,LP,$@)
	$(Q)$(LP_BUILD) -o $@ $< >/dev/null

# Built every time (one gcc): lp-build.py says what is wrong with SRC.
payload: $(KERNEL)
	$(Q)$(LP_BUILD) $(SRC)

# make run LIVEPATCH="...": each source into build/payloads/, then an ISO
# with them as modules ($(LP_ISO)).
lp-iso: $(KERNEL)
	$(Q)for s in $(LIVEPATCH); do $(LP_BUILD) $$s || exit 1; done
	$(Q)scripts/mkiso.sh $(KERNEL) $(LP_ISO) "$(CMDLINE)" $(LP_RUN_PAYLOADS)

deps:
	@scripts/deps.sh

# make run / test / bench install what they need first, then build.
# run boots build/xpoke.iso, or with CMDLINE=... an ISO built for that
# command line.
run: deps
ifeq ($(strip $(LIVEPATCH)),)
	@$(MAKE) --no-print-directory $(BUILD_JOBS) $(ISO)
	$(PYTHON) scripts/run-qemu.py --interactive
else
	@$(MAKE) --no-print-directory $(BUILD_JOBS) lp-iso
	CMDLINE= $(PYTHON) scripts/run-qemu.py --interactive --iso $(LP_ISO)
endif

BOOTS = $(PYTHON) scripts/boots.py

# The build before a target's boots: one job per CPU unless make was given
# -j (make test on a clean clone compiles the kernel, Zydis twice and the
# fuzz target: in about half the time on two CPUs).
BUILD_JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc))

test: deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) iso host-tests
	@$(BOOTS) --title 'make test' --default-group ci

model: deps
	tests/model/check.sh

lint: $(KERNEL)
	$(PYTHON) scripts/lint.py $(LINT_PART)

test-gdb: deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) iso
	@$(BOOTS) --title 'make test-gdb' --default-group gdb

debug: deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) iso
	scripts/debug.sh

debug-server: deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) iso
	scripts/debug.sh --server

bench: deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) iso
	@start=$$(date +%s); $(BOOTS) --title 'make bench' --default-group bench; st=$$?; \
	if [ $$st -ne 2 ]; then $(PYTHON) scripts/bench_table.py --since $$start || st=1; \
		$(PYTHON) scripts/lp_bench_table.py --since $$start || st=1; fi; exit $$st

# The report is written even when a boot failed (with what it printed);
# not when the runner refused to start (status 2: a bad COMPARE_SMP).
compare: deps
	@$(PYTHON) scripts/compare.py --check-knobs
	@$(MAKE) --no-print-directory $(BUILD_JOBS) iso
	@$(BOOTS) --title 'make compare' --default-group compare; st=$$?; \
	if [ $$st -ne 2 ]; then $(PYTHON) scripts/compare.py || st=1; fi; exit $$st

stress: deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) iso
	@$(BOOTS) --title 'make stress' --default-group stress

matrix: deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) iso
	@$(BOOTS) --title 'make matrix' --default-group matrix

fuzz: deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) $(FUZZER)
	scripts/fuzz.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null) $(GEN)/asm-offsets.d

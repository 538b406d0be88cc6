# xpoke — one non-recursive Makefile.
#
#   make            build/xpoke.elf (+ .lst disassembly, .sym symbols)
#   make iso        build/xpoke.iso (console) and build/xpoke-test.iso (ktest=all)
#   make run        boot xpoke.iso under QEMU (-smp 8) on this terminal
#   make test       host checks, then the test ISO at -smp 1, 2 and 8
#   make bench      boot-time figures
#   make matrix     the test ISO booted by plain QEMU: pc/q35, qemu64/max,
#                   -smp 1 2 3 8 64 and sparse APIC IDs (slow: minutes)
#   make clean
#
# Knobs for run/test/bench (scripts/run-qemu.py): SMP MEM CPU ACCEL MACHINE
# CMDLINE GDB=1 TIMEOUT.

BUILD   := build
OBJ     := $(BUILD)/obj
GEN     := $(BUILD)/gen

CC      := gcc
LD      := ld
NASM    := nasm
PYTHON  := python3

CFLAGS  := -std=gnu11 -O2 -g -ffreestanding -fno-stack-protector -fno-pic -fno-pie \
           -mno-red-zone -mgeneral-regs-only -mcmodel=kernel -fno-omit-frame-pointer \
           -fno-asynchronous-unwind-tables -fcf-protection=none -fno-strict-aliasing \
           -Wall -Wextra -Werror -I. -I$(GEN) -MMD -MP
NASMFLAGS := -f elf64 -g -F dwarf -w+all -Werror -I$(GEN)/
LDFLAGS := -nostdlib -static -z max-page-size=0x1000 -z noexecstack --no-dynamic-linker \
           --no-warn-rwx-segments   # the .boot segment is RWX on purpose: it runs before paging is final

BOOT_OBJS := \
	boot/multiboot2_header.o boot/entry32.o boot/trampoline.o boot/bootinfo.o

ARCH_OBJS := \
	arch/x86/entry.o arch/x86/stack_switch.o \
	arch/x86/acpi.o arch/x86/apic.o arch/x86/cpufeatures.o arch/x86/dump.o \
	arch/x86/fwcfg.o arch/x86/gdt.o arch/x86/idt.o arch/x86/ioapic.o \
	arch/x86/irq.o arch/x86/mce.o arch/x86/nmi.o arch/x86/paging.o \
	arch/x86/pic.o arch/x86/pmm.o arch/x86/power.o arch/x86/serial.o \
	arch/x86/smp.o arch/x86/traps.o arch/x86/tsc.o

KERNEL_OBJS := \
	kernel/recover_point.o \
	kernel/cmdline.o kernel/crashtest.o kernel/errno.o kernel/format.o \
	kernel/ksyms.o kernel/ktest.o kernel/main.o kernel/panic.o kernel/percpu.o \
	kernel/printk.o kernel/recover.o kernel/shell.o kernel/shell_cmds.o \
	kernel/smp_call.o kernel/spinlock.o kernel/string.o

TEST_OBJS := \
	tests/kernel/traps_helpers.o \
	tests/kernel/test_smp.o tests/kernel/test_nmi.o tests/kernel/test_traps.o \
	tests/kernel/test_mm.o tests/kernel/test_printk.o tests/kernel/test_tsc.o \
	tests/kernel/test_runner.o

OBJS := $(addprefix $(OBJ)/,$(BOOT_OBJS) $(ARCH_OBJS) $(KERNEL_OBJS) $(TEST_OBJS))

KERNEL  := $(BUILD)/xpoke.elf
ISO     := $(BUILD)/xpoke.iso
TEST_ISO := $(BUILD)/xpoke-test.iso

.PHONY: all iso run test bench matrix clean deps
all: $(KERNEL)

# --- generated inputs ------------------------------------------------------

$(GEN)/asm-offsets.s: arch/x86/asm-offsets.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MF $(GEN)/asm-offsets.d -MT $@ -S -o $@ $<

$(GEN)/asm-offsets.inc: $(GEN)/asm-offsets.s
	sed -n 's/.*->\([A-Za-z0-9_]*\) \(-\{0,1\}[0-9][0-9]*\).*/%define \1 \2/p' $< > $@.tmp
	mv $@.tmp $@

$(BUILD)/linker.lds: linker.ld arch/x86/layout.h
	@mkdir -p $(@D)
	$(CC) -E -P -x c -D__ASSEMBLER__ -I. $< -o $@

# --- compile ---------------------------------------------------------------

$(OBJ)/%.o: %.c | $(GEN)/asm-offsets.inc
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(OBJ)/%.o: %.asm $(GEN)/asm-offsets.inc
	@mkdir -p $(@D)
	$(NASM) $(NASMFLAGS) -MD $(OBJ)/$*.d -MP -o $@ $<

# --- link twice: the second link embeds the symbol table of the first -----

$(GEN)/ksyms-empty.c: scripts/gen-ksyms.py
	@mkdir -p $(@D)
	$(PYTHON) scripts/gen-ksyms.py --empty $@

$(BUILD)/xpoke.pass1.elf: $(OBJS) $(OBJ)/gen/ksyms-empty.o $(BUILD)/linker.lds
	$(LD) $(LDFLAGS) -T $(BUILD)/linker.lds -o $@ $(OBJS) $(OBJ)/gen/ksyms-empty.o

$(GEN)/ksyms.c: $(BUILD)/xpoke.pass1.elf scripts/gen-ksyms.py
	$(PYTHON) scripts/gen-ksyms.py $< $@

$(OBJ)/gen/%.o: $(GEN)/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(KERNEL): $(OBJS) $(OBJ)/gen/ksyms.o $(BUILD)/linker.lds
	$(LD) $(LDFLAGS) -T $(BUILD)/linker.lds -o $@.tmp $(OBJS) $(OBJ)/gen/ksyms.o
	$(PYTHON) scripts/gen-ksyms.py --check $@.tmp $(GEN)/ksyms.c
	mv $@.tmp $@
	objdump -d -M intel $@ > $(BUILD)/xpoke.lst
	nm -n $@ > $(BUILD)/xpoke.sym

# --- images and runs -------------------------------------------------------

iso: $(ISO) $(TEST_ISO)

$(ISO): $(KERNEL) scripts/mkiso.sh
	scripts/mkiso.sh $(KERNEL) $@ ""

$(TEST_ISO): $(KERNEL) scripts/mkiso.sh
	scripts/mkiso.sh $(KERNEL) $@ "ktest=all"

deps:
	@scripts/deps.sh

# make run / test / bench install what they need first, then build.
run: deps
	@$(MAKE) --no-print-directory $(ISO)
	$(PYTHON) scripts/run-qemu.py --interactive --iso $(ISO)

test: deps
	@$(MAKE) --no-print-directory iso
	scripts/test.sh

bench: deps
	@$(MAKE) --no-print-directory iso
	scripts/bench.sh

matrix: deps
	@$(MAKE) --no-print-directory iso
	scripts/matrix.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null) $(GEN)/asm-offsets.d

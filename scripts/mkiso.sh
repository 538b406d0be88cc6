#!/usr/bin/env bash
# scripts/mkiso.sh — build a GRUB (BIOS, Multiboot2) ISO around the kernel.
#
#   scripts/mkiso.sh KERNEL.elf OUT.iso "KERNEL COMMAND LINE" [MODULE.lp ...]
#
# Each MODULE.lp (a livepatch payload, clients/livepatch/) is loaded by GRUB
# as a Multiboot2 module: `module2 /boot/lp/NAME.lp NAME`, NAME its base
# name, which the kernel's loader reports it by.
# The ISO boots straight into xpoke (timeout 0). Both build/xpoke.iso and
# build/xpoke-test.iso come from here, from the same kernel, and so does
# every ISO the runner builds for a stanza's command line.
#
# Lean, because every boot of make test reads it: the kernel without its
# DWARF sections nor its ELF symbol table (strip --strip-all: the loaded
# segments, among them the kernel's own symbol table in .rodata, and the
# entry point are the ELF's; gdb takes the symbols from build/xpoke.elf
# itself), 4.6 of the ELF's 8.5 MB, which GRUB reads from the emulated CD
# in about 0.1 s less of QEMU's time per boot than with the ELF symbol
# table (about 0.3 s less than the whole ELF); and
# only the GRUB modules this grub.cfg needs (and their dependencies), no
# fonts, locales or themes: 1.7 MB instead of 12, made in half the time.
set -euo pipefail

if [ $# -lt 3 ]; then
	echo "usage: $0 KERNEL.elf OUT.iso CMDLINE [MODULE.lp ...]" >&2
	exit 2
fi
kernel=$1 out=$2 cmdline=$3
shift 3
[ -f "$kernel" ] || { echo "mkiso: no kernel at $kernel (run make first)" >&2; exit 1; }
command -v grub-mkrescue >/dev/null || { echo "mkiso: grub-mkrescue missing (run scripts/deps.sh)" >&2; exit 1; }
case "$cmdline" in *[\"\\\$\;]*) echo "mkiso: command line may not contain quotes, backslashes, \$ or ;" >&2; exit 1;; esac

stage=$(mktemp -d "${TMPDIR:-/tmp}/xpoke-iso.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/boot/grub"
strip --strip-all -o "$stage/boot/xpoke.elf" "$kernel"
# The modules: names from parameter expansion and one cp for all (no
# process per module: the runner makes about 40 ISOs of 25 modules each).
modules=
for m in "$@"; do
	[ -f "$m" ] || { echo "mkiso: no module at $m" >&2; exit 1; }
	name=${m##*/}
	name=${name%.lp}
	case "$name" in *[!A-Za-z0-9_.-]*|"") echo "mkiso: module name '$name' (from $m) may hold only letters, digits, _ . -" >&2; exit 1;; esac
	[ "$m" = "${m%.lp}.lp" ] || { echo "mkiso: module $m is not a .lp file" >&2; exit 1; }
	modules="$modules	module2 /boot/lp/$name.lp $name
"
done
if [ $# -gt 0 ]; then
	mkdir "$stage/boot/lp"
	cp "$@" "$stage/boot/lp/"
fi
cat > "$stage/boot/grub/grub.cfg" <<CFG
set timeout=0
set default=0
menuentry "xpoke" {
	multiboot2 /boot/xpoke.elf $cmdline
$modules	boot
}
CFG
mkdir -p "$(dirname "$out")"
# A temporary name of this run's own: two runners may build one ISO at once.
tmp=$out.tmp.$$
if ! log=$(grub-mkrescue -d /usr/lib/grub/i386-pc -o "$tmp" \
		--install-modules="normal multiboot2 iso9660 biosdisk part_msdos" \
		--fonts= --locales= --themes= "$stage" 2>&1); then
	echo "mkiso: grub-mkrescue failed:" >&2
	echo "$log" >&2
	rm -f "$tmp"
	exit 1
fi
mv "$tmp" "$out"
echo "mkiso: $out (cmdline: '${cmdline}'${1:+, $# module(s)})"

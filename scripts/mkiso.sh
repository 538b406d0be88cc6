#!/usr/bin/env bash
# scripts/mkiso.sh — build a GRUB (BIOS, Multiboot2) ISO around the kernel.
#
#   scripts/mkiso.sh KERNEL.elf OUT.iso "KERNEL COMMAND LINE"
#
# The ISO boots straight into xpoke (timeout 0). Both build/xpoke.iso and
# build/xpoke-test.iso come from here, from the same kernel.
set -euo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 KERNEL.elf OUT.iso CMDLINE" >&2
	exit 2
fi
kernel=$1 out=$2 cmdline=$3
[ -f "$kernel" ] || { echo "mkiso: no kernel at $kernel (run make first)" >&2; exit 1; }
command -v grub-mkrescue >/dev/null || { echo "mkiso: grub-mkrescue missing (run scripts/deps.sh)" >&2; exit 1; }
case "$cmdline" in *[\"\\\$\;]*) echo "mkiso: command line may not contain quotes, backslashes, \$ or ;" >&2; exit 1;; esac

stage=$(mktemp -d "${TMPDIR:-/tmp}/xpoke-iso.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/boot/grub"
cp "$kernel" "$stage/boot/xpoke.elf"
cat > "$stage/boot/grub/grub.cfg" <<CFG
set timeout=0
set default=0
menuentry "xpoke" {
	multiboot2 /boot/xpoke.elf $cmdline
	boot
}
CFG
mkdir -p "$(dirname "$out")"
if ! log=$(grub-mkrescue -d /usr/lib/grub/i386-pc -o "$out.tmp" "$stage" 2>&1); then
	echo "mkiso: grub-mkrescue failed:" >&2
	echo "$log" >&2
	rm -f "$out.tmp"
	exit 1
fi
mv "$out.tmp" "$out"
echo "mkiso: $out (cmdline: '${cmdline}')"

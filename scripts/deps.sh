#!/usr/bin/env bash
# scripts/deps.sh — install the Debian packages xpoke needs, if missing.
#
# Idempotent: when everything is installed it only asks dpkg and exits.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
	gcc make binutils python3          # toolchain
	nasm                               # all assembly
	qemu-system-x86                    # run and test
	grub-pc-bin grub-common xorriso mtools   # ISO images
	gdb                                # debugging through QEMU's gdb stub
	dpkg-dev                           # dpkg-source: unpacks Debian's zydis source
	libzycore-dev libzydis-dev         # Zycore headers (kernel), libzydis (host tests)
	libcmocka-dev                      # host unit tests
	clang-14 libclang-rt-14-dev libfuzzer-14-dev   # the validator's fuzz target: clang, its ASan/UBSan/libFuzzer runtimes
	spin                               # make model: the protocols in Promela
	gnuplot-nox                        # make compare: its charts
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
	sudo=(sudo)                        # may ask for a password on this terminal
else
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: installing them needs root; run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

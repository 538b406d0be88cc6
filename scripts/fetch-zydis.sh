#!/usr/bin/env bash
# scripts/fetch-zydis.sh — unpack Debian's zydis source package (4.0.0) into
# build/zydis/, for the freestanding decoder and formatter in the kernel.
#
# Debian ships Zydis only as a shared library, so the kernel builds it from
# the source package. apt-get source needs deb-src entries: this script
# derives them from this system's own apt entries (every enabled "deb" line
# or deb822 "Types: deb" stanza becomes deb-src) into build/apt/, and points
# apt-get there with -o Dir::...; the system's apt configuration is never
# touched. Zycore's headers come from Debian's libzycore-dev.
# Nothing fetched here is committed: build/ is ignored.
#
# ZYDIS_SRC_CACHE=DIR takes the source package (zydis_4.0.0-*.dsc and the
# files it names, as apt-get source leaves them, e.g. another tree's
# build/zydis/) from DIR instead of apt, and unpacks it the same way
# (dpkg-source -x, checksums checked): the scratch build of
# tests/host/test_rebuild.py uses it to stay off the network.
set -euo pipefail

want=4.0.0
root=$(cd "$(dirname "$0")/.." && pwd)
apt_dir=$root/build/apt
out=$root/build/zydis
src=$out/zydis-$want
stamp=$src/.xpoke-ok

[ -f "$stamp" ] && exit 0
[ -d /usr/include/Zycore ] || { echo "fetch-zydis: /usr/include/Zycore missing: install libzycore-dev (scripts/deps.sh)" >&2; exit 1; }
command -v dpkg-source >/dev/null || { echo "fetch-zydis: dpkg-source missing: install dpkg-dev (scripts/deps.sh)" >&2; exit 1; }

rm -rf "$apt_dir" "$out"
# Nothing half-done is left behind: on any failure build/zydis/ goes away
# (build/apt/ stays, with the logs the messages point at).
trap 'status=$?; [ "$status" -eq 0 ] || rm -rf "$out"' EXIT
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$out"

if [ -n "${ZYDIS_SRC_CACHE:-}" ]; then
	cached=$(find "$ZYDIS_SRC_CACHE" -maxdepth 1 -name "zydis_$want-*.dsc" 2>/dev/null | head -n 1)
	[ -n "$cached" ] || { echo "fetch-zydis: no zydis_$want-*.dsc in ZYDIS_SRC_CACHE=$ZYDIS_SRC_CACHE" >&2; exit 1; }
	echo "fetch-zydis: source package from $ZYDIS_SRC_CACHE (ZYDIS_SRC_CACHE)"
	cp "$cached" "$out/"
	# The files of its "Files:" field (md5 size name), beside the .dsc.
	for f in $(awk '/^Files:/ { on = 1; next } /^[^ ]/ { on = 0 } on { print $3 }' "$cached"); do
		cp "$ZYDIS_SRC_CACHE/$f" "$out/" || { echo "fetch-zydis: $f (named by $cached) missing" >&2; exit 1; }
	done
	if ! (cd "$out" && dpkg-source -x "$(basename "$cached")" "zydis-$want" >"$apt_dir/source.log" 2>&1); then
		echo "fetch-zydis: dpkg-source -x failed (build/apt/source.log):" >&2
		tail -n 20 "$apt_dir/source.log" >&2
		exit 1
	fi
else
	# One-line format: "deb [opts] uri suite comps" -> "deb-src ...".
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		if [ -f "$f" ]; then cat "$f"; fi
	done | sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' > "$apt_dir/sources.list"
	# deb822 format: a stanza whose Types include "deb" gets "Types: deb-src".
	n=0
	for f in /etc/apt/sources.list.d/*.sources; do
		if [ ! -f "$f" ]; then continue; fi
		n=$((n + 1))
		awk '/^[Tt]ypes:/ { if ($0 ~ /[[:space:]]deb([[:space:]]|$)/) print "Types: deb-src"; else print; next } { print }' \
			"$f" > "$apt_dir/sources.list.d/derived-$n.sources"
	done
	if ! grep -qs . "$apt_dir/sources.list" && [ "$n" -eq 0 ]; then
		echo "fetch-zydis: no apt entries to derive deb-src entries from" >&2
		exit 1
	fi

	apt=(apt-get -q -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
	     -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
	[ "$(id -u)" -eq 0 ] && apt+=(-o APT::Sandbox::User=root)

	echo "fetch-zydis: apt-get update (deb-src entries derived into build/apt/)"
	"${apt[@]}" update >"$apt_dir/update.log" 2>&1 || echo "fetch-zydis: some source indexes failed (see build/apt/update.log); trying anyway" >&2
	echo "fetch-zydis: apt-get source zydis"
	if ! (cd "$out" && "${apt[@]}" source zydis >"$apt_dir/source.log" 2>&1); then
		echo "fetch-zydis: apt-get source zydis failed (build/apt/source.log; indexes: build/apt/update.log):" >&2
		tail -n 20 "$apt_dir/source.log" >&2
		exit 1
	fi
fi

dsc=$(find "$out" -maxdepth 1 -name 'zydis_*.dsc' | head -n 1)
[ -n "$dsc" ] || { echo "fetch-zydis: apt-get source left no zydis_*.dsc in build/zydis/ (see build/apt/source.log)" >&2; exit 1; }
version=$(sed -n 's/^Version: *//p' "$dsc")
upstream=${version%%-*}
upstream=${upstream#*:}
if [ "$upstream" != "$want" ]; then
	echo "fetch-zydis: Debian offers zydis $version; xpoke is built and tested against $want" >&2
	exit 1
fi
[ -f "$src/src/Decoder.c" ] || { echo "fetch-zydis: $src/src/Decoder.c missing after unpacking" >&2; exit 1; }

mkdir -p "$out/include-zycore"
ln -sfn /usr/include/Zycore "$out/include-zycore/Zycore"
echo "$version" > "$stamp"
echo "fetch-zydis: zydis $version in $src"

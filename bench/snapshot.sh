#!/bin/bash
# Snapshot benchmark: file size and save/restore time for 128 MiB and 1 GiB
# guests (target: save + restore of 128 MiB under 100 ms), raw and with
# zstd, plus the cost of one -snapshot-torture restart on a real image.
set -eu
cd "$(dirname "$0")/.."
O="${O:-build}"
CC="${CC:-gcc}"
dir="${TMPDIR:-/tmp}"
zflags=""
if printf '#include <zstd.h>\n' | $CC -E -x c - >/dev/null 2>&1; then
	zflags="-DNV_HAVE_ZSTD -lzstd"
fi
bin="$O/bench/snapshot_bench"
mkdir -p "$O/bench"
$CC -std=gnu11 -O2 -Iinclude -Isrc -o "$bin" bench/snapshot_bench.c "$O/libnestvm.a" -lm $zflags
echo "== snapshot: size and save/restore time (file in $dir)"
for size in 128 1024; do
	for fill in 5 100; do
		"$bin" $size $fill "$dir"
		[ -n "$zflags" ] && "$bin" $size $fill "$dir" compress
	done
done
img="$O/tests/guest/hello.elf"
if [ -x "$O/nestvm" ] && [ -f "$img" ]; then
	args="-nodefaults -serial none -device isa-debug-exit,iobase=0xf4,iosize=0x4 -kernel $img"
	s=$(date +%s%N)
	"$O/nestvm" $args >/dev/null 2>&1 || true
	e=$(date +%s%N)
	"$O/nestvm" $args -snapshot-torture 97,count=200 >/dev/null 2>&1 || true
	f=$(date +%s%N)
	echo "== -snapshot-torture: $(( ( (f - e) - (e - s) ) / 200 / 1000 )) us per restart (save + fork/exec + restore, hello.elf, 128 MiB)"
fi

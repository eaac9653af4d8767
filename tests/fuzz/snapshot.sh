#!/bin/bash
# make fuzz (snapshot part): the snapshot reader under ASan + UBSan.
# libFuzzer when clang has it (FUZZ_TIME seconds, default 60), otherwise
# the deterministic mutation fuzzer (FUZZ_ITERS inputs, default 20000).
set -eu
cd "$(dirname "$0")/../.."
O=build-fuzz
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
zflags=""
if printf '#include <zstd.h>\n' | cc -E -x c - >/dev/null 2>&1; then zflags="-lzstd"; fi
if echo 'int LLVMFuzzerTestOneInput(const char *d, long n){return 0;}' |
	clang -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null; then
	make -s O=$O CC=clang OPT=-O1 SAN="$SAN -fsanitize=fuzzer-no-link" $O/libnestvm.a
	clang -std=gnu11 -g -O1 $SAN -fsanitize=fuzzer -Iinclude -Isrc -o $O/snapshot_fuzz \
		tests/fuzz/snapshot_fuzz.c $O/libnestvm.a -lm $zflags
	mkdir -p $O/corpus-snapshot
	echo "snapshot fuzz: libFuzzer for ${FUZZ_TIME:-60} s"
	$O/snapshot_fuzz -max_total_time="${FUZZ_TIME:-60}" -print_final_stats=1 \
		-rss_limit_mb=4096 $O/corpus-snapshot 2>&1 | tail -15
else
	make -s O=$O OPT=-O1 SAN="$SAN" $O/libnestvm.a
	gcc -std=gnu11 -g -O1 $SAN -DSTANDALONE -Iinclude -Isrc -o $O/snapshot_fuzz \
		tests/fuzz/snapshot_fuzz.c $O/libnestvm.a -lm $zflags
	$O/snapshot_fuzz "${FUZZ_ITERS:-20000}"
fi

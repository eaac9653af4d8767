#!/bin/bash
# make fuzz (platform part): the hostile-guest image tests/guest/chaos_platform.c
# under an ASan + UBSan build of nestvm, seed after seed for FUZZ_TIME seconds
# (default 60), alternating 1, 2 and 4 vCPUs and both CPU models; every
# 16th seed also runs under -snapshot-torture and must print the same.
# A failing seed is printed with its command line (re-run it to debug).
#   FUZZ_SEED   first seed (default: the current time)   CHAOS_OPS  operations per vCPU
set -u
cd "$(dirname "$0")/../.."
O=build-san
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer"
make -s O=$O OPT=-O1 SAN="$SAN" $O/nestvm $O/tests/guest/chaos_platform.elf || exit 1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
time_limit=${FUZZ_TIME:-60}
seed=${FUZZ_SEED:-$(date +%s)}
ops=${CHAOS_OPS:-20000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
end=$((SECONDS + time_limit))
runs=0 fails=0
while [ $SECONDS -lt $end ]; do
	case $((runs % 4)) in
	0) cfg="-smp 2" ;; 1) cfg="-smp 1" ;; 2) cfg="-smp 4 -cpu amd" ;; *) cfg="-smp 2 -quantum 997" ;;
	esac
	cmd="$O/nestvm -nodefaults -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x4 \
-device pc-testdev -device pci-testdev -no-reboot $cfg -kernel $O/tests/guest/chaos_platform.elf"
	timeout 120 $cmd -append "seed=$seed ops=$ops" >"$tmp/out" 2>"$tmp/err"
	st=$?
	bad=""
	if [ $st != 1 ] || grep -q '^not ok' "$tmp/out" || [ -s "$tmp/err" ]; then
		bad="status $st"
	elif [ $((runs % 16)) = 15 ]; then
		timeout 600 $cmd -snapshot-torture 50021 -append "seed=$seed ops=$ops" \
			>"$tmp/tort" 2>"$tmp/err"
		tst=$?
		{ [ $tst = 1 ] && cmp -s "$tmp/out" "$tmp/tort"; } ||
			bad="status $tst or output differs under -snapshot-torture 50021"
	fi
	if [ -n "$bad" ]; then
		fails=$((fails + 1))
		echo "FAIL ($bad): $cmd -append 'seed=$seed ops=$ops'"
		grep -v '^ok' "$tmp/out" | head -10
		head -20 "$tmp/err"
	fi
	runs=$((runs + 1))
	seed=$((seed + 1))
done
echo "platform fuzz: $runs runs, $fails failed (seeds up to $((seed - 1)), $ops operations per vCPU)"
[ $fails = 0 ]

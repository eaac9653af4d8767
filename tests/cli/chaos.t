#!/bin/bash
# Platform chaos (tests/guest/chaos_platform.c): a hostile guest drives every
# device with random accesses.  Many seeds must each end with the guest's own
# report (exit status 1, no "not ok"): no crash, no hang, no stray exception,
# no device writing guest RAM.  The digest of everything the guest read is
# deterministic: two runs of one seed, and the interpreter and the JIT,
# print the same, and so does a run restored from a snapshot every few
# thousand instructions (device and in-flight APIC state survive).  make
# fuzz-platform runs many more seeds under ASan+UBSan.
O=${O:-build}
SEEDS=${CHAOS_SEEDS:-40}
OPS=${CHAOS_OPS:-5000}
img="$O/tests/guest/chaos_platform.elf"
run() {
	timeout 60 "$O/nestvm" -nodefaults -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=0x4 -device pc-testdev \
		-device pci-testdev -no-reboot "$@" -kernel "$img"
}
. "$(dirname "$0")/tap.sh"
echo "1..9"

# one seed: status 1 and a clean report
clean() {
	run "$@" >"$tmp/out" 2>&1
	local st=$?
	if [ "$st" != 1 ] || grep -q '^not ok' "$tmp/out" || ! grep -q '^1\.\.' "$tmp/out"; then
		echo "# $*: status $st"
		grep -v '^ok' "$tmp/out" | head -5 | sed 's/^/# /'
		return 1
	fi
}

sweep() {
	local what=$1 fails=0
	shift
	for s in $(seq 1 "$SEEDS"); do
		clean "$@" -append "seed=$s ops=$OPS" || fails=$((fails + 1))
	done
	check $fails "$what: $SEEDS seeds x $OPS operations per vCPU, every run ends with a clean report"
}

sweep "2 vCPUs" -smp 2
sweep "1 vCPU" -smp 1
sweep "4 vCPUs, AMD model" -smp 4 -cpu amd
sweep "2 vCPUs, -quantum 997" -smp 2 -quantum 997

run -smp 2 -append "seed=7 ops=$OPS" >"$tmp/a" 2>&1
run -smp 2 -append "seed=7 ops=$OPS" >"$tmp/b" 2>&1
grep -q '^# vCPU 1 digest ' "$tmp/a" && cmp -s "$tmp/a" "$tmp/b"
check $? "seed 7: two runs print the same digest"
NESTVM_JIT=0 run -smp 2 -append "seed=7 ops=$OPS" >"$tmp/c" 2>&1
cmp -s "$tmp/a" "$tmp/c"
check $? "seed 7: the interpreter alone prints the same digest"
run -smp 2 -append "seed=8 ops=$OPS" >"$tmp/d" 2>&1
! cmp -s "$tmp/a" "$tmp/d"
check $? "another seed prints another digest (the comparison is sensitive)"

# -snapshot-torture: save, and go on in a fresh process, every N instructions
torture() {
	local what=$1 period=$2 fails=0
	shift 2
	for s in 1 2 3 4; do
		run "$@" -append "seed=$s ops=$OPS" >"$tmp/p" 2>&1
		local sp=$?
		run "$@" -snapshot-torture "$period" -append "seed=$s ops=$OPS" >"$tmp/t" 2>&1
		local st=$?
		if [ "$sp" != 1 ] || [ "$st" != "$sp" ] || ! cmp -s "$tmp/p" "$tmp/t"; then
			fails=$((fails + 1))
			echo "# seed $s: status $st (plain $sp)"
			diff "$tmp/p" "$tmp/t" | head -5 | sed 's/^/# /'
		fi
	done
	check $fails "$what: seeds 1-4 under -snapshot-torture $period print what the plain runs print"
}
torture "2 vCPUs" 30011 -smp 2
torture "4 vCPUs" 50021 -smp 4

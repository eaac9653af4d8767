#!/bin/bash
# CPU speed: the same image and command line under nestvm and QEMU TCG.
# Target (issue "virtual CPU"): nestvm's wall time <= QEMU TCG's on the sieve.
set -u
O=${O:-build}
IMG=$O/bench/guest/sieve.elf
ARGS="-nodefaults -display none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x4 -m 512"
QEMU=$(command -v qemu-system-x86_64 || true)

timeit() {	# timeit LABEL CMD...: prints wall seconds and the guest output
	local label=$1
	shift
	local t0 t1
	t0=$(date +%s.%N)
	out=$("$@" 2>&1)
	t1=$(date +%s.%N)
	wall=$(echo "$t1 - $t0" | bc -l)
	printf '%-28s %8.3f s   %s\n' "$label" "$wall" "$(echo "$out" | tr '\n' ' ' | cut -c1-60)"
}

for what in sieve reg; do
	timeit "nestvm $what" $O/nestvm $ARGS -kernel $IMG -append "$what"
	nv=$wall
	if [ -n "$QEMU" ]; then
		timeit "qemu-tcg $what" $QEMU $ARGS -accel tcg -kernel $IMG -append "$what"
		printf '%-28s %8.2f (nestvm / qemu; <= 1.00 is the target)\n' "ratio $what" \
			"$(echo "$nv / $wall" | bc -l)"
	else
		echo "qemu-system-x86_64 not installed (apt-get install qemu-system-x86): no comparison"
	fi
done
# MIPS from the emulator's own instruction count
icount=$($O/nestvm $ARGS -kernel $IMG -append sieve -stats 2>&1 >/dev/null | sed -n 's/.*instructions: \([0-9]*\).*/\1/p')
if [ -n "$icount" ]; then
	timeit "nestvm sieve (stats)" $O/nestvm $ARGS -kernel $IMG -append sieve
	echo "nestvm sieve: $icount instructions, $(echo "$icount / $wall / 1000000" | bc -l | cut -c1-7) MIPS"
fi

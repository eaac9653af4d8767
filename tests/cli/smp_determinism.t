#!/bin/bash
# Determinism: the same SMP image with the same inputs gives byte-identical
# output (serial console and exit status) on every run.  The images print
# the virtual TSC of every IPI they exchange, so any scheduling difference
# shows.  A different scheduler quantum must change those times (the
# comparison can fail).
O=${O:-build}
run() {
	"$O/nestvm" -nodefaults -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x4 \
		-device pc-testdev -no-reboot "$@"
}
. "$(dirname "$0")/tap.sh"
echo "1..7"

for img in smp_8 smp_3; do
	ncpu=${img#smp_}
	run -smp "$ncpu" -kernel "$O/tests/guest/$img.elf" >"$tmp/a" 2>&1; sa=$?
	run -smp "$ncpu" -kernel "$O/tests/guest/$img.elf" >"$tmp/b" 2>&1; sb=$?
	grep -q '^# hop .* received [0-9]' "$tmp/a"
	check $? "$img prints the virtual times of its IPIs"
	cmp -s "$tmp/a" "$tmp/b" && [ "$sa" = "$sb" ] && [ "$sa" = 1 ]
	check $? "$img: two runs, byte-identical output and exit status $sa"
done

run -smp 8 -quantum 7777 -kernel "$O/tests/guest/smp_8.elf" >"$tmp/c" 2>&1; sc=$?
run -smp 8 -quantum 7777 -kernel "$O/tests/guest/smp_8.elf" >"$tmp/d" 2>&1; sd=$?
cmp -s "$tmp/c" "$tmp/d" && [ "$sc" = "$sd" ] && [ "$sc" = 1 ]
check $? "smp_8 with -quantum 7777: two runs, byte-identical"
run -smp 8 -kernel "$O/tests/guest/smp_8.elf" >"$tmp/a" 2>&1
! cmp -s "$tmp/a" "$tmp/c"
check $? "a different quantum gives different IPI times (the comparison is sensitive)"

run -smp 4 -kernel "$O/tests/guest/apic_ipi.elf" >"$tmp/a" 2>&1; sa=$?
run -smp 4 -kernel "$O/tests/guest/apic_ipi.elf" >"$tmp/b" 2>&1; sb=$?
cmp -s "$tmp/a" "$tmp/b" && [ "$sa" = "$sb" ]
check $? "apic_ipi: two runs, byte-identical"

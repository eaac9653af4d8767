#!/bin/bash
# The /dev/kvm engine from the command line (docs/kvm.md): the three ways to
# select it, the one-line refusal (exit 2) without /dev/kvm, and images
# that must behave on KVM exactly as on the emulator (same serial output,
# same exit status): the loader, the devices, fw_cfg with -smp, power-off,
# shutdown on a triple fault.
O=${O:-build}
NV=$O/nestvm
IMG=$O/tests/guest
n=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() {	# ok COND DESCRIPTION
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
skip() {
	n=$((n + 1))
	echo "ok $n # SKIP $1"
}

BASE="-nodefaults -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x4 -device pc-testdev -no-reboot"

# Without /dev/kvm (hidden in a private mount namespace): one line, status 2,
# whichever spelling selects KVM.
if unshare -m true 2>/dev/null; then
	for sel in "-accel kvm" "-machine accel=kvm" "-enable-kvm"; do
		unshare -m sh -c "mount -t tmpfs none /dev && exec $NV $BASE $sel -kernel $IMG/hello.elf" \
			>"$tmp/out" 2>"$tmp/err"
		st=$?
		good=1
		[ "$st" = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q '/dev/kvm' "$tmp/err" &&
			[ ! -s "$tmp/out" ] && good=0
		ok $good "no /dev/kvm, $sel: one line, status 2 ($st: $(cat "$tmp/err"))"
	done
	# QEMU's accelerator list: kvm:tcg falls back to the emulator
	unshare -m sh -c "mount -t tmpfs none /dev && exec $NV $BASE -accel kvm:tcg -kernel $IMG/exit_code.elf" \
		>"$tmp/out" 2>"$tmp/err"
	st=$?
	good=1
	[ "$st" = 1 ] && grep -q 'falling back to tcg' "$tmp/err" && grep -q 'exiting with code 0' "$tmp/out" && good=0
	ok $good "no /dev/kvm, -accel kvm:tcg falls back to the emulator (status $st)"
else
	skip "cannot hide /dev/kvm here (unshare -m not permitted)"
fi

if ! [ -r /dev/kvm ] || ! $NV $BASE -accel kvm -kernel $IMG/exit_code.elf >/dev/null 2>"$tmp/err" &&
	grep -q 'cannot use KVM' "$tmp/err"; then
	skip "the /dev/kvm engine is not usable here: $(cat "$tmp/err" 2>/dev/null)"
	echo "1..$n"
	exit $fail
fi

# same image, same options: emulator and KVM must agree
same() {	# same DESCRIPTION nestvm-args...
	local desc=$1
	shift
	timeout 120 $NV $BASE "$@" >"$tmp/emu" 2>"$tmp/emu.err"
	local se=$?
	timeout 120 $NV $BASE -accel kvm "$@" >"$tmp/kvm" 2>"$tmp/kvm.err"
	local sk=$?
	local good=1
	[ "$se" = "$sk" ] && cmp -s "$tmp/emu" "$tmp/kvm" && good=0
	ok $good "$desc: KVM gives the emulator's output and status ($se / $sk)"
	if [ $good != 0 ]; then
		diff "$tmp/emu" "$tmp/kvm" | head -10 | sed 's/^/# /'
		sed 's/^/# kvm stderr: /' "$tmp/kvm.err" | head -3
	fi
}

same "hello" -kernel $IMG/hello.elf -append 'one two'
same "boot_info (Multiboot: cmdline, module, memory map)" -m 200 \
	-initrd tests/guest/data/env.txt -append 'alpha  beta gamma' -kernel $IMG/boot_info.elf
same "exit_code (debug-exit status)" -kernel $IMG/exit_code.elf
same "fwcfg with -smp 3 (APs created, waiting)" -smp 3 -m 300 -kernel $IMG/fwcfg.elf
same "poweroff (port 0x8900)" -kernel $IMG/poweroff.elf
same "triple_fault with -no-reboot (KVM_EXIT_SHUTDOWN)" -kernel $IMG/triple_fault.elf

# a triple fault without -no-reboot resets the machine: the image runs again
ASAN_OPTIONS=verify_asan_link_order=0 timeout 3 stdbuf -oL $NV -nodefaults -serial stdio -accel kvm -kernel $IMG/triple_fault.elf >"$tmp/out" 2>&1
runs=$(grep -c 'about to triple fault' "$tmp/out")
ok $([ "$runs" -ge 3 ]; echo $?) "without -no-reboot the guest is reset and runs again ($runs runs in 3 s)"

# the hostile-guest platform test (tests/guest/chaos_platform.c) on KVM: the
# in-kernel local APICs and nestvm's devices under random accesses; timing
# is the host's, so only the verdict is compared, not the digest
for cfg in "-smp 1" "-smp 2" "-smp 4"; do
	bad=0
	for s in 1 2 3 4 5 6 7 8; do
		timeout 120 $NV $BASE -accel kvm -device pci-testdev $cfg -append "seed=$s ops=3000" \
			-kernel $IMG/chaos_platform.elf >"$tmp/out" 2>&1
		st=$?
		if [ "$st" != 1 ] || grep -q '^not ok' "$tmp/out"; then
			bad=$((bad + 1))
			grep -v '^ok' "$tmp/out" | head -5 | sed "s/^/# seed $s: /"
		fi
	done
	ok $bad "chaos_platform $cfg on KVM: 8 seeds end with a clean report"
done

$NV $BASE -accel kvm -snapshot-save "$tmp/s@1000" -kernel $IMG/hello.elf >"$tmp/out" 2>"$tmp/err"
st=$?
ok $([ "$st" = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ]; echo $?) \
	"snapshots on kvm: refused in one line, status 2 ($st: $(cat "$tmp/err"))"

echo "1..$n"
exit $fail

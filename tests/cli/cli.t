#!/bin/bash
# The nestvm command line: options, exit-status mapping, refusal of bad
# images and bad options (exit 2 with one clear line on stderr).
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

# expect STATUS PATTERN DESCRIPTION -- nestvm args...
expect() {
	local want=$1 pat=$2 desc=$3
	shift 4
	timeout 60 $NV "$@" >"$tmp/out" 2>"$tmp/err"
	local st=$?
	local good=1
	[ "$st" = "$want" ] && good=0
	if [ $good = 0 ] && [ -n "$pat" ]; then
		grep -Eq -- "$pat" "$tmp/err" "$tmp/out" || good=1
	fi
	if [ "$want" = 2 ] && [ $good = 0 ]; then
		# refusals: exactly one line on stderr, nothing on stdout
		[ "$(wc -l <"$tmp/err")" = 1 ] && [ ! -s "$tmp/out" ] || good=1
	fi
	ok $good "$desc (status $st)"
	if [ $good != 0 ]; then sed 's/^/# /' "$tmp/err" | head -5; fi
}

DBG="-device isa-debug-exit,iobase=0xf4,iosize=0x4"

expect 0 "Usage: nestvm -kernel" "--help prints usage" -- --help
expect 0 "" "-help works too" -- -help
expect 0 "^nestvm [0-9]" "--version" -- --version
expect 0 "^nestvm [0-9]" "-version" -- -version

# exit-status mapping (platform.md §4)
expect 1 "exiting with code 0" "debug exit 0 -> status 1" -- $DBG -kernel $IMG/exit_code.elf
expect 11 "" "debug exit 5 -> status 11" -- $DBG -kernel $IMG/exit_code.elf -append 5
expect 255 "" "debug exit 0x7f -> status 255" -- $DBG -kernel $IMG/exit_code.elf -append 0x7f
expect 3 "" "debug exit 1 -> status 3" -- $DBG --kernel $IMG/exit_code.elf --append 1
expect 0 "" "Shutdown on port 0x8900 -> status 0" -- -kernel $IMG/poweroff.elf
expect 0 "triple fault" "triple fault with -no-reboot -> status 0 and a message" -- \
	$DBG -no-reboot -kernel $IMG/triple_fault.elf
expect 0 "triple fault" "--no-reboot is the same" -- $DBG --no-reboot -kernel $IMG/triple_fault.elf
expect 0 "" "no debug-exit device: the image powers off through 0x8900" -- \
	-kernel $IMG/exit_code.elf -append 5
expect 1 "" "debug exit at another iobase" -- \
	-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel $IMG/exit_code.elf

# options a test runner passes that mean nothing here are accepted
expect 1 "" "-vnc none -display none -global ... -nodefaults accepted" -- \
	-nodefaults -vnc none -display none -global kvm-pit.lost_tick_policy=discard \
	-machine accel=tcg -accel tcg -serial stdio -device pc-testdev -device pci-testdev \
	$DBG -kernel $IMG/exit_code.elf -smp 2 -m 64M -cpu max

# serial routing
$NV $DBG -serial file:$tmp/ser.txt -kernel $IMG/exit_code.elf >"$tmp/out" 2>&1
grep -q "exiting with code 0" "$tmp/ser.txt" && [ ! -s "$tmp/out" ]
ok $? "-serial file:PATH writes the output to the file only"
$NV $DBG -serial none -kernel $IMG/exit_code.elf >"$tmp/out" 2>&1
[ ! -s "$tmp/out" ]
ok $? "-serial none prints nothing"

# bad options
expect 2 "unknown option" "unknown option" -- -frobnicate -kernel $IMG/exit_code.elf
expect 2 "needs an argument" "missing argument" -- -kernel
expect 2 "no -kernel" "no image" -- -m 64
expect 2 "-m: bad size" "-m abc" -- -m abc -kernel $IMG/exit_code.elf
expect 2 "-m: bad size" "-m -5" -- -m -5 -kernel $IMG/exit_code.elf
expect 2 "at least 2 MiB" "-m too small" -- -m 1 -kernel $IMG/exit_code.elf
expect 2 "-smp" "-smp 0" -- -smp 0 -kernel $IMG/exit_code.elf
expect 2 "-smp" "-smp 1000" -- -smp 1000 -kernel $IMG/exit_code.elf
expect 2 "-smp" "-smp x" -- -smp x -kernel $IMG/exit_code.elf
expect 2 "unknown CPU model" "-cpu bogus" -- -cpu bogus -kernel $IMG/exit_code.elf
expect 2 "unknown CPU feature" "-cpu intel,+nosuch" -- -cpu intel,+nosuch -kernel $IMG/exit_code.elf
expect 2 "-serial" "-serial tcp:..." -- -serial tcp:1.2.3.4:5 -kernel $IMG/exit_code.elf
expect 2 "unknown device" "-device nosuch" -- -device nosuch -kernel $IMG/exit_code.elf
expect 2 "bad value" "-device isa-debug-exit,iobase=zz" -- \
	-device isa-debug-exit,iobase=zz -kernel $IMG/exit_code.elf
expect 2 "unknown accelerator" "-machine accel=xyz" -- -machine accel=xyz -kernel $IMG/exit_code.elf
expect 2 "only the 'pc' machine" "-machine q35" -- -machine q35 -kernel $IMG/exit_code.elf
expect 2 "expected on or off" "-machine strict=maybe" -- -machine strict=maybe -kernel $IMG/exit_code.elf
expect 2 "unexpected argument" "stray argument" -- stray -kernel $IMG/exit_code.elf

# bad images
expect 2 "cannot open" "missing image file" -- -kernel $tmp/does-not-exist
printf 'just some text\n' >"$tmp/text"
expect 2 "no Multiboot header" "not an image: no Multiboot header" -- -kernel $tmp/text
: >"$tmp/empty"
expect 2 "no Multiboot header" "empty file" -- -kernel $tmp/empty
printf '\x02\xb0\xad\x1b\x00\x00\x00\x00\xfe\x4f\x52\xe4' >"$tmp/notelf"
head -c 200 /dev/zero >>"$tmp/notelf"
expect 2 "not an ELF file" "Multiboot header but not ELF" -- -kernel $tmp/notelf
head -c 5000 $IMG/exit_code.elf >"$tmp/trunc"
expect 2 "truncated|outside the file" "truncated ELF image" -- -kernel $tmp/trunc
expect 2 "outside guest RAM" "segment outside RAM (-m 2)" -- -m 2 -kernel $IMG/exit_code.elf
expect 2 "cannot open" "missing -initrd file" -- -kernel $IMG/exit_code.elf -initrd $tmp/nope
head -c 8192 /dev/urandom >"$tmp/garbage"
expect 2 "" "random bytes" -- -kernel $tmp/garbage

echo "1..$n"
exit $fail

# The snapshot options of the nestvm command: save, load, torture, refusal.
set -u
O="${O:-build}"
NV="$O/nestvm"
IMG="$O/tests/guest/hello.elf"
BASE="-nodefaults -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x4 -no-reboot"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

$NV $BASE -kernel $IMG >"$tmp/plain" 2>/dev/null
plain=$?
ok $([ $plain = 1 ]; echo $?) "plain run exits with 1"

# save in the middle, the run goes on unchanged
$NV $BASE -kernel $IMG -snapshot-save "$tmp/s@20000" >"$tmp/out" 2>"$tmp/err"
st=$?
ok $([ $st = $plain ] && cmp -s "$tmp/plain" "$tmp/out"; echo $?) "-snapshot-save: output and status unchanged"
ok $([ -s "$tmp/s" ] && [ ! -e "$tmp/s.tmp" ]; echo $?) "-snapshot-save: the file is written"

# loading it finishes the run: its output is the end of the plain output
$NV $BASE -snapshot-load "$tmp/s" >"$tmp/load" 2>"$tmp/err"
st=$?
ok $([ $st = $plain ]; echo $?) "-snapshot-load: same exit status ($st)"
ok $([ -s "$tmp/load" ] && [ "$(tail -c "$(stat -c %s "$tmp/load")" "$tmp/plain" | md5sum)" = "$(md5sum <"$tmp/load")" ]; echo $?) \
	"-snapshot-load: the output is the rest of the plain run's"
# with -kernel given, it must be the same image
$NV $BASE -kernel $IMG -snapshot-load "$tmp/s" >"$tmp/load2" 2>/dev/null
ok $([ $? = $plain ] && cmp -s "$tmp/load" "$tmp/load2"; echo $?) "-snapshot-load with the same -kernel"

# compressed files restore the same way
$NV $BASE -kernel $IMG -snapshot-compress -snapshot-save "$tmp/z@20000" >/dev/null 2>&1
$NV $BASE -snapshot-load "$tmp/z" >"$tmp/loadz" 2>/dev/null
ok $([ $? = $plain ] && cmp -s "$tmp/load" "$tmp/loadz"; echo $?) "-snapshot-compress: the same run"

# a snapshot at 0 instructions replays the whole run
$NV $BASE -kernel $IMG -snapshot-save "$tmp/z0@0" >/dev/null 2>&1
$NV $BASE -snapshot-load "$tmp/z0" >"$tmp/load0" 2>/dev/null
ok $([ $? = $plain ] && cmp -s "$tmp/plain" "$tmp/load0"; echo $?) "a snapshot at instruction 0 replays everything"

# past the end: a warning, nothing saved, status unchanged
$NV $BASE -kernel $IMG -snapshot-save "$tmp/never@999999999" >/dev/null 2>"$tmp/err"
st=$?
ok $([ $st = $plain ] && [ ! -e "$tmp/never" ] && grep -q "nothing was saved" "$tmp/err"; echo $?) \
	"-snapshot-save after the end: warned, nothing saved"

# refusals: exit status 2, a message, no guest output
refuse() {
	local what=$1 want=$2; shift 2
	"$@" >"$tmp/rout" 2>"$tmp/rerr"
	local st=$?
	if [ $st = 2 ] && grep -q -- "$want" "$tmp/rerr" && [ ! -s "$tmp/rout" ]; then
		ok 0 "refused: $what ($(head -1 "$tmp/rerr"))"
	else
		ok 1 "refused: $what (status $st: $(head -1 "$tmp/rerr"))"
	fi
}
head -c 5000 "$tmp/s" >"$tmp/trunc"
refuse "a truncated file" "truncated" $NV $BASE -snapshot-load "$tmp/trunc"
cp "$tmp/s" "$tmp/flip"
printf '\x5a' | dd of="$tmp/flip" bs=1 seek=3000 conv=notrunc 2>/dev/null
refuse "a flipped bit" "CRC mismatch" $NV $BASE -snapshot-load "$tmp/flip"
cp "$tmp/s" "$tmp/ver"
printf '\x07' | dd of="$tmp/ver" bs=1 seek=8 conv=notrunc 2>/dev/null
refuse "a damaged format version" "header is corrupt" $NV $BASE -snapshot-load "$tmp/ver"
refuse "another vCPU count" "2 vCPUs\|1 vCPUs" $NV $BASE -smp 2 -snapshot-load "$tmp/s"
refuse "another device set" "pc-testdev" $NV $BASE -device pc-testdev -snapshot-load "$tmp/s"
refuse "strict mode on, snapshot KVM-compatible" "strict=off" $NV $BASE -machine strict=on -snapshot-load "$tmp/s"
# strict mode is part of the machine: saved, and required on load
$NV $BASE -machine strict=on -kernel $IMG -snapshot-save "$tmp/st@20000" >/dev/null 2>&1
$NV $BASE -machine strict=on -snapshot-load "$tmp/st" >"$tmp/loadst" 2>/dev/null
ok $([ $? = $plain ] && cmp -s "$tmp/load" "$tmp/loadst"; echo $?) "-machine strict=on: saved and restored, the same run"
refuse "a strict-mode snapshot without strict=on" "strict=on" $NV $BASE -snapshot-load "$tmp/st"
refuse "another RAM size" "MiB of RAM" $NV $BASE -m 256 -snapshot-load "$tmp/s"
refuse "another kernel" "was taken with -kernel" $NV $BASE -kernel /dev/null -snapshot-load "$tmp/s"
refuse "a missing file" "cannot open" $NV $BASE -snapshot-load "$tmp/nonexistent"
refuse "not a snapshot" "bad magic" $NV $BASE -snapshot-load "$IMG"
refuse "the KVM engine" "emulator engine" $NV $BASE -accel kvm -snapshot-load "$tmp/s"
refuse "a bad torture spec" "snapshot-torture" $NV $BASE -kernel $IMG -snapshot-torture 5,bogus=1

# torture: output and exit status exactly as the plain run, also for status 3
$NV $BASE -kernel $IMG -snapshot-torture 997 >"$tmp/tort" 2>/dev/null
st=$?
ok $([ $st = $plain ] && cmp -s "$tmp/plain" "$tmp/tort"; echo $?) "-snapshot-torture 997: same output and status"
$NV -nodefaults -serial stdio -device isa-debug-exit,iobase=0x501 -kernel $IMG >"$tmp/p3" 2>/dev/null
p3=$?
$NV -nodefaults -serial stdio -device isa-debug-exit,iobase=0x501 -kernel $IMG -snapshot-torture 4999 >"$tmp/t3" 2>/dev/null
st=$?
# (without the debug-exit port the guest powers off: status 0)
ok $([ $p3 = 0 ] && [ $st = 0 ] && cmp -s "$tmp/p3" "$tmp/t3"; echo $?) "-snapshot-torture: exit status 0 propagates ($st)"
# serial output to a file continues across generations
$NV $BASE -serial "file:$tmp/sf" -kernel $IMG -snapshot-torture 1009 >/dev/null 2>&1
st=$?
ok $([ $st = $plain ] && cmp -s "$tmp/plain" "$tmp/sf"; echo $?) "-snapshot-torture with -serial file: the file is complete"
# no generation is left behind
sleep 0.2
# (only ours: other torture runs may be going on in parallel)
ok $(! pgrep -f "snapshot-torture-child.*$tmp|$tmp.*snapshot-torture-child" >/dev/null; echo $?) "no torture generation left running"
echo "1..$n"

# Snapshot torture (sourced by tests/torture/*.t): every guest test image is
# run once plainly, then under -snapshot-torture with the schedules the
# calling script gives; output and exit status must be byte-identical.
#
#   TORTURE_K       restarts per small-N schedule (default 100)
#   TORTURE_ONLY    a regular expression: only images whose name matches
set -u
O="${O:-build}"
K="${TORTURE_K:-100}"
NV="$O/nestvm"
n=0
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the run-test command line of an image
image_args() {
	local src="tests/guest/$1.c"
	sed -n 's|^// nestvm-args: ||p' "$src" 2>/dev/null | tr '\n' ' '
}

# plain run: sets plain_st, icount; output in $tmp/plain.out
plain_run() {
	local elf=$1 args=$2
	eval "timeout 300 $NV -nodefaults -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=0x4 -device pc-testdev \
		-no-reboot $args -snapshot-stats -kernel $elf" >"$tmp/plain.out" 2>"$tmp/plain.err"
	plain_st=$?
	icount=$(sed -n 's/^nestvm: snapshot stats: \([0-9]*\) instructions.*/\1/p' "$tmp/plain.err")
	icount=${icount:-0}
}

# one torture schedule against the plain run
torture_one() {
	local name=$1 elf=$2 args=$3 spec=$4
	n=$((n + 1))
	eval "timeout 600 $NV -nodefaults -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=0x4 -device pc-testdev \
		-no-reboot $args -snapshot-stats -snapshot-torture $spec -kernel $elf" \
		>"$tmp/t.out" 2>"$tmp/t.err"
	local st=$?
	local restarts
	restarts=$(sed -n 's/^nestvm: snapshot stats: .* \([0-9]*\) restarts.*/\1/p' "$tmp/t.err")
	if [ "$st" = "$plain_st" ] && cmp -s "$tmp/plain.out" "$tmp/t.out"; then
		echo "ok $n - $name: -snapshot-torture $spec (${restarts:-?} restarts)"
	else
		fails=$((fails + 1))
		echo "not ok $n - $name: -snapshot-torture $spec: status $st (plain $plain_st)"
		diff "$tmp/plain.out" "$tmp/t.out" | head -20 | sed 's/^/# /'
		grep -v '^nestvm: snapshot stats' "$tmp/t.err" | head -5 | sed 's/^/# stderr: /'
	fi
}

is_prime() {
	local p=$1 d=2
	[ "$p" -lt 2 ] && return 1
	while [ $((d * d)) -le "$p" ]; do
		[ $((p % d)) -eq 0 ] && return 1
		d=$((d + 1))
	done
	return 0
}

next_prime() {
	local p=$1
	while ! is_prime "$p"; do p=$((p + 1)); done
	echo "$p"
}

# for each image: plain run, then "schedules ICOUNT" prints the specs to run
for_each_image() {
	local elf name args
	for elf in $(ls "$O"/tests/guest/*.elf 2>/dev/null | sort); do
		name=$(basename "$elf" .elf)
		if [ -n "${TORTURE_ONLY:-}" ] && ! [[ "$name" =~ $TORTURE_ONLY ]]; then
			continue
		fi
		args=$(image_args "$name")
		plain_run "$elf" "$args"
		if [ "$icount" -eq 0 ]; then
			n=$((n + 1))
			fails=$((fails + 1))
			echo "not ok $n - $name: no instruction count from the plain run"
			continue
		fi
		for spec in $(schedules "$icount"); do
			torture_one "$name" "$elf" "$args" "$spec"
		done
	done
	echo "1..$n"
	[ "$fails" -eq 0 ]
}

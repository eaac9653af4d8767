#!/bin/bash
# The block compiler against the interpreter: every guest image once more
# with NESTVM_JIT=1 (each block compiled after its first run) and once with
# NESTVM_JIT=0 (interpreter only); both must pass exactly like the default
# run (same TAP result and exit status through the guest runner).
O=${O:-build}
n=0
fail=0
for img in $O/tests/guest/*.elf; do
	name=$(basename "$img" .elf)
	for mode in 1 0; do
		out=$(NESTVM_JIT=$mode O=$O tests/harness/run-test "$img" 2>&1)
		n=$((n + 1))
		if printf '%s\n' "$out" | grep -q '^not ok'; then
			echo "not ok $n - $name with NESTVM_JIT=$mode"
			printf '%s\n' "$out" | grep '^not ok' | head -3 | sed 's/^/# /'
			fail=1
		else
			echo "ok $n - $name with NESTVM_JIT=$mode"
		fi
	done
done
echo "1..$n"
exit $fail

#!/bin/bash
# make bench: run every bench/*.sh in turn.
cd "$(dirname "$0")/.."
st=0
for b in bench/*.sh; do
	[ "$(basename "$b")" = run.sh ] && continue
	echo "== $b"
	O="${O:-build}" bash "$b" || st=1
done
exit $st

#!/bin/bash
# make bench: every bench/*.sh, in order.
set -u
cd "$(dirname "$0")/.."
for b in bench/[0-9]*.sh bench/*.sh; do
	[ -f "$b" ] || continue
	case " $done " in *" $b "*) continue ;; esac
	done="${done:-} $b"
	[ "$b" = bench/run.sh ] && continue
	echo "== $b"
	O="${O:-build}" bash "$b"
done

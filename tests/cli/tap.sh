# Sourced by tests/cli/*.t: numbered TAP results and a scratch directory.
#   check STATUS DESCRIPTION   "ok N" when STATUS is 0, else "not ok N"
#   $tmp                       removed when the script exits
n=0
check() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Snapshot torture with a large prime N: about 40 restarts spread over the
# whole run of each guest test, and one at a prime near a quarter of it.
. "$(dirname "$0")/lib.sh"
schedules() {
	local big
	big=$(next_prime $(($1 / 40 > 17 ? $1 / 40 : 19)))
	echo "$big"
	echo "$(next_prime $(($1 / 4 + 1)))"
}
for_each_image

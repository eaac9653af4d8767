# Snapshot torture, N = 3 and N = 17 over windows at 1/3 and 2/3 of each
# guest test, and N = 17 over the whole run where that stays cheap.
. "$(dirname "$0")/lib.sh"
schedules() {
	echo "3,count=$K,start=$(($1 / 3))"
	if [ $(($1 / 17)) -le $((K * 4)) ]; then
		echo "17"
	else
		echo "17,count=$K,start=$(($1 * 2 / 3))"
	fi
}
for_each_image

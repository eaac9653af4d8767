# Snapshot torture, N = 1: a restart at every instruction boundary of a
# window at the start and one in the middle of each guest test.
. "$(dirname "$0")/lib.sh"
schedules() {
	echo "1,count=$K"
	echo "1,count=$K,start=$(($1 / 2))"
}
for_each_image

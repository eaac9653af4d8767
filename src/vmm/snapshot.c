// SPDX-License-Identifier: MIT
/* Machine snapshots: not implemented yet (snapshot issue). */
#include "snapshot.h"

bool snapshot_point(struct machine *m)
{
	(void)m;
	return false;
}

void snapshot_slice_end(struct machine *m)
{
	(void)m;
}

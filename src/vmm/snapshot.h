/* SPDX-License-Identifier: MIT */
/* Machine snapshots (docs/snapshot-format.md). */
#ifndef NV_SNAPSHOT_H
#define NV_SNAPSHOT_H

#include "machine.h"

/* called by the scheduler: take a requested snapshot now? (true = stop slice) */
bool snapshot_point(struct machine *m);
void snapshot_slice_end(struct machine *m);

#endif

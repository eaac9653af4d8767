/* SPDX-License-Identifier: MIT */
/* State shared by snapshot.c and snapshot_sched.c (not for other modules). */
#ifndef NV_SNAPSHOT_INT_H
#define NV_SNAPSHOT_INT_H

#include "snapshot.h"

#define SNAP_MAX_DEV 32
#define SNAP_NAME_LEN 24

struct snap_dev {
	char name[SNAP_NAME_LEN];	/* section name, "dev:..." */
	uint32_t version;
	void *opaque;
	snap_save_fn save;
	snap_load_fn load;
};

struct snapshot_state {
	struct snap_dev dev[SNAP_MAX_DEV];
	int ndev;

	/* -snapshot-save FILE@N: one-shot target (machine instruction count) */
	bool save_pending;
	uint64_t save_at;
	/* -snapshot-torture N: next target and progress */
	bool torture_on;
	uint64_t torture_next;
	uint64_t torture_gen;		/* restarts done so far (all generations) */
	int torture_fd;			/* status pipe to the supervisor, -1 none */
	/* vCPU that resumes a slice interrupted by the restored snapshot */
	int resume_cpu;
	bool restored;
	uint64_t restored_icount;

	char *kept[3];			/* kernel, append, initrd adopted from a snapshot */
	int argc;
	char **argv;
	uint64_t nsaves;
	double save_ms, load_ms;
};

struct snapshot_state *snap_state(struct machine *m);

#endif

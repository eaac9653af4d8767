/* SPDX-License-Identifier: MIT */
/*
 * Machine snapshots (docs/snapshot-format.md): save, restore, exact
 * stops at a machine-wide instruction count, and the torture mode that
 * restarts the run from a snapshot in a fresh process every N instructions.
 */
#ifndef NV_SNAPSHOT_H
#define NV_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine.h"

#define SNAP_FORMAT_VERSION 1

/* ---- serialisation kit for device sections --------------------------------- */

/* growing output buffer; on allocation failure `oom` is set and writes stop */
struct snap_buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

void snap_put_bytes(struct snap_buf *b, const void *p, size_t n);
void snap_put_u8(struct snap_buf *b, uint8_t v);
void snap_put_u16(struct snap_buf *b, uint16_t v);
void snap_put_u32(struct snap_buf *b, uint32_t v);
void snap_put_u64(struct snap_buf *b, uint64_t v);

/* bounds-checked input: reading past the end sets `bad` and yields zeros */
struct snap_in {
	const uint8_t *p;
	size_t len, pos;
	bool bad;
};

void snap_get_bytes(struct snap_in *in, void *p, size_t n);
uint8_t snap_get_u8(struct snap_in *in);
uint16_t snap_get_u16(struct snap_in *in);
uint32_t snap_get_u32(struct snap_in *in);
uint64_t snap_get_u64(struct snap_in *in);
bool snap_get_bool(struct snap_in *in);	/* a byte that must be 0 or 1 */
/* everything read, nothing left over, no overrun */
bool snap_in_done(const struct snap_in *in);

/*
 * Device sections.  A device registers once (from its init function) a
 * section "dev:NAME" with a version; save appends its state to `out`; load
 * reads it back from `in`, validates every value (the file is untrusted)
 * and returns 0, or -1 with a message in err.  Loading must not touch the
 * device unless the whole section is valid.
 */
typedef void (*snap_save_fn)(struct machine *m, void *opaque, struct snap_buf *out);
typedef int (*snap_load_fn)(struct machine *m, void *opaque, struct snap_in *in,
			    uint32_t version, char *err, size_t errlen);
void snapshot_register(struct machine *m, const char *name, uint32_t version, void *opaque,
		       snap_save_fn save, snap_load_fn load);

/* ---- save / restore ----------------------------------------------------------- */

/*
 * Save to an open, seekable file descriptor (positioned at 0) or a path
 * (written to PATH.tmp, then renamed).  0, or -1 with a message in err.
 * The machine must be stopped at an instruction boundary (see
 * snapshot_run); vCPUs in the middle of an I/O exit are refused.
 */
int snapshot_save_fd(struct machine *m, int fd, char *err, size_t errlen);
int snapshot_save_file(struct machine *m, const char *path, char *err, size_t errlen);

/*
 * Restore into a machine freshly set up with machine_init (no image
 * loaded).  The whole stream is checked (structure, CRCs, configuration,
 * every section present and understood) before anything is applied.
 */
int snapshot_restore(struct machine *m, const uint8_t *buf, size_t len, char *err, size_t errlen);
int snapshot_load_file(struct machine *m, const char *path, char *err, size_t errlen);

/* built with zstd (-snapshot-compress) */
bool snapshot_have_zstd(void);

/* structural checks only (header, sections, CRCs, config): for the fuzzer */
int snapshot_check(const uint8_t *buf, size_t len, char *err, size_t errlen);

/* ---- the scheduler side (snapshot_sched.c) ------------------------------------- */

/* set up the -snapshot-save / -snapshot-torture targets from m->cfg */
void snapshot_setup(struct machine *m, int argc, char **argv);
/* nv_run for vCPU k, stopping exactly at snapshot targets to save */
int snapshot_run(struct machine *m, int k);
/* vCPU k resumes the slice a snapshot interrupted: skip dev_pre_run once */
bool snapshot_resuming(struct machine *m, int k);
/* the run ended with `status`: warnings, torture status hand-back, stats */
void snapshot_finish(struct machine *m, int status);
void snapshot_destroy(struct machine *m);
/* instructions executed by all vCPUs together */
uint64_t snapshot_machine_icount(struct machine *m);

#endif

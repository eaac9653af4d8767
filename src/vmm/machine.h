/* SPDX-License-Identifier: MIT */
/*
 * The machine: guest RAM, the devices of ../shared/spec/platform.md, the
 * loaders, and the deterministic vCPU scheduler.  Uses only the public
 * vCPU API (include/nestvm/nestvm.h), so it runs on either engine.
 */
#ifndef NV_MACHINE_H
#define NV_MACHINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nestvm/nestvm.h"

#define MAX_CPUS 256
#define MAX_PIO 64
#define MAX_MMIO 16
#define MAX_TIMERS 32

struct machine;

typedef uint32_t (*pio_read_fn)(void *opaque, uint16_t port, int size);
typedef void (*pio_write_fn)(void *opaque, uint16_t port, int size, uint32_t val);
typedef uint64_t (*mmio_read_fn)(void *opaque, uint64_t off, int size);
typedef void (*mmio_write_fn)(void *opaque, uint64_t off, int size, uint64_t val);
typedef void (*timer_fn)(void *opaque, uint64_t now);

struct config {
	const char *kernel;
	const char *append;
	const char *initrd;
	uint64_t ram_size;
	int smp;
	int max_cpus;
	const char *cpu_model;
	const char *serial;		/* "stdio", "none", "file:PATH" */
	bool no_reboot;
	bool debug_exit;
	uint16_t debug_exit_base, debug_exit_size;
	bool pc_testdev;
	bool pci_testdev;
	enum nv_engine engine;
	enum nv_engine engine_fallback;
	bool has_fallback;
	uint64_t quantum;		/* scheduler slice in instructions */
	bool strict;			/* -machine strict=on: SDM, not KVM, where they differ */
	/* snapshots (issue: snapshot) */
	const char *snapshot_save;
	uint64_t snapshot_at;
	const char *snapshot_load;
	uint64_t torture;
	uint64_t torture_count;		/* 0 = no limit on restarts */
	uint64_t torture_start;		/* first snapshot at torture_start + torture */
	bool torture_child;		/* a generation started by -snapshot-torture */
	int torture_fd;			/* its status pipe to the supervisor */
	uint64_t torture_gen;		/* restarts before this generation */
	bool snapshot_zstd;		/* compress RAM in -snapshot-save files */
	bool snapshot_stats;		/* print counts and times at exit */
	int trace;
	bool stats;
};

struct pio_handler {
	uint16_t base, len;
	void *opaque;
	pio_read_fn read;
	pio_write_fn write;
};

struct mmio_handler {
	uint64_t base, len;
	void *opaque;
	mmio_read_fn read;
	mmio_write_fn write;
};

struct mtimer {
	uint64_t deadline;	/* machine clock (ns), ~0 = off */
	timer_fn fn;
	void *opaque;
	bool used;
};

struct machine {
	struct config cfg;
	struct nv_vm *vm;
	struct nv_vcpu *vcpu[MAX_CPUS];
	int ncpus;
	uint8_t *ram;
	uint64_t ram_size;
	uint64_t low_ram;		/* RAM below 4 GiB */
	uint64_t ram_map_size;

	struct pio_handler pio[MAX_PIO];
	int npio;
	struct mmio_handler mmio[MAX_MMIO];
	int nmmio;
	struct mtimer timers[MAX_TIMERS];

	uint64_t clock;			/* virtual time at the current slice start */
	uint64_t slice_end;
	int cur_cpu;			/* scheduler position (snapshots resume here) */

	FILE *serial_out;
	bool done;
	int exit_status;
	bool reset_requested;
	char exit_msg[200];

	/* devices' state lives here so snapshots find it */
	struct dev_state *dev;
	struct snapshot_state *snap;	/* snapshot.c: sections, targets */
};

/* machine.c */
int machine_init(struct machine *m, const struct config *cfg);
int machine_enable_caps(struct nv_vm *vm, const struct config *cfg);
void machine_destroy(struct machine *m);
int machine_run(struct machine *m);	/* returns the process exit status */
void machine_register_pio(struct machine *m, uint16_t base, uint16_t len, void *opaque,
			  pio_read_fn r, pio_write_fn w);
void machine_register_mmio(struct machine *m, uint64_t base, uint64_t len, void *opaque,
			   mmio_read_fn r, mmio_write_fn w);
int machine_timer_new(struct machine *m, timer_fn fn, void *opaque);
void machine_timer_mod(struct machine *m, int t, uint64_t deadline);
uint64_t machine_now(const struct machine *m);
void machine_set_irq(struct machine *m, int irq, int level);
void machine_poweroff(struct machine *m, int status, const char *why);
void machine_request_reset(struct machine *m);
uint8_t *machine_gpa(struct machine *m, uint64_t gpa, uint64_t len);
/* for the /dev/kvm run loop */
void machine_handle_exit(struct machine *m, int k, struct kvm_run *run);
uint64_t machine_next_timer(const struct machine *m);
void machine_fire_timers(struct machine *m);
int machine_reset_devices_and_image(struct machine *m);	/* RAM, devices, loader */

/* run_kvm.c: machine_run on the /dev/kvm engine */
int machine_run_kvm(struct machine *m);

/* loader.c */
int load_multiboot(struct machine *m, char *err, size_t errlen);

/* devices (dev_*.c) */
void dev_init_all(struct machine *m);
void dev_reset_all(struct machine *m);

#endif

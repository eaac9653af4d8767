/*
 * Host-side test kit: drive a VM through the public API (either engine).
 *
 * vmt_init sets up 64-bit mode with identity-mapped 2 MiB pages over the
 * first GiB and over 3-4 GiB (uncached: local APIC, MMIO), a flat GDT, and an IDT whose every vector records its number at
 * VMT_EXC_VEC (error code and RIP from the frame at VMT_EXC_FRAME) and
 * executes HLT, so a run ends either with the code's own HLT or with an
 * exception.  Code runs at VMT_CODE, data at VMT_DATA.
 */
#ifndef VMT_H
#define VMT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nestvm/nestvm.h"

#define VMT_CODE 0x100000ULL
#define VMT_DATA 0x200000ULL
#define VMT_STACK 0x90000ULL
#define VMT_EXC_VEC 0x7000ULL	/* u32: vector + 1 of the last exception (0 = none) */
#define VMT_IDT 0x4000ULL
#define VMT_GDT 0x500ULL
#define VMT_STUBS 0x6000ULL

struct vmt {
	struct nv_vm *vm;
	struct nv_vcpu *v;
	struct kvm_run *run;
	uint8_t *mem;
	uint64_t size;
	enum nv_engine eng;
	char out[4096];		/* bytes written to port 0xe9 by vmt_run */
	size_t nout;
	/*
	 * KVM: the last vmt_run ended with the vCPU halted inside KVM_RUN (the
	 * in-kernel LAPIC blocks on HLT; a kick returned -EINTR).
	 */
	bool hlt_in_kernel;
};

/* CPU model for the next vmt_init (nv_set_cpu_model spec), NULL = default */
extern const char *vmt_cpu_model;
/* 0 on success; -1 with a message on stderr (e.g. no /dev/kvm) */
int vmt_init(struct vmt *t, enum nv_engine eng, uint64_t mem_size);
int vmt_init_mode(struct vmt *t, enum nv_engine eng, uint64_t mem_size, int mode);	/* 16/32/64 */
void vmt_destroy(struct vmt *t);
void vmt_write(struct vmt *t, uint64_t gpa, const void *p, size_t n);
void *vmt_ptr(struct vmt *t, uint64_t gpa);
/*
 * Run from `rip` with registers `r` (rip/rflags overwritten from args) until
 * HLT or another exit that is not port I/O; returns the last exit reason
 * (KVM_EXIT_HLT normally), -1 if nv_run failed.  Port writes to 0xe9 are
 * collected in t->out (debug console).  Registers are read back into r.
 */
int vmt_run(struct vmt *t, uint64_t rip, struct kvm_regs *r);
/* the same from the vCPU's current state (after exits the test handled) */
int vmt_run_continue(struct vmt *t, struct kvm_regs *r);
/* vector of the exception that ended the run, or -1 */
int vmt_exception(struct vmt *t);
uint64_t vmt_exc_errcode(struct vmt *t, const struct kvm_regs *r);
uint64_t vmt_exc_rip(struct vmt *t, const struct kvm_regs *r);

/*
 * nv_run that cannot block forever: on KVM a periodic signal (every
 * VMT_KICK_US while inside) sets run->immediate_exit, so a vCPU halted in
 * the kernel comes back with -EINTR.  A kick that finds the vCPU runnable
 * is not reported: KVM_RUN is entered again (for at most 20 s), as after
 * -EAGAIN (KVM: an UNINITIALIZED vCPU that took INIT / SIPI).  Returns
 * what the last nv_run returned; immediate_exit is cleared.
 */
#define VMT_KICK_US 1000
int vmt_nv_run(struct vmt *t);
/* kicks for any run page (e.g. a VM not made by vmt_init); 0 usec = stop */
void vmt_kick(struct kvm_run *run, unsigned int usec);

/* TAP */
void tap_ok(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));	/* ok N # SKIP */
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));	/* # ... */
void tap_prefix(const char *prefix);	/* prepended to descriptions, e.g. "kvm: " */
void tap_skip_all(const char *why);
int tap_done(void);	/* prints the plan; returns the process exit status */
bool kvm_available(void);

/* engines */
const char *vmt_engine_name(enum nv_engine eng);	/* "emu", "kvm" */
/* /dev/kvm exists and has what nestvm needs; else a reason in why */
bool vmt_kvm_usable(char *why, size_t len);
/*
 * suite(eng) on the emulator, then on /dev/kvm when usable (one SKIP line
 * with the reason otherwise), with the TAP prefix set to the engine name.
 */
void vmt_each_engine(void (*suite)(enum nv_engine eng));

#endif

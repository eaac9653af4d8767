/* SPDX-License-Identifier: MIT */
/*
 * A vCPU's whole state through the public API, independent of the engine:
 * taken from one vCPU (vcpu_state_get) and given to another
 * (vcpu_state_set) of the same or the other engine — the emulator and
 * /dev/kvm — or written to a snapshot.  Only KVM's own structures are
 * used, so the state is what KVM itself would save and restore.
 *
 * Before vcpu_state_get, complete the last exit (vcpu_state_sync): after
 * KVM_EXIT_IO / KVM_EXIT_MMIO the vCPU's state is consistent only once
 * KVM_RUN was entered again (KVM api.rst, KVM_RUN).
 *
 * Restore order (vcpu_state_set), and why:
 *   1. CPUID        features decide what later steps accept (XCR0, CR4,
 *                   MSRs); KVM refuses a different CPUID once a vCPU ran,
 *                   so the destination must be a vCPU that never ran
 *   2. SREGS2/SREGS control registers, EFER and APIC_BASE before anything
 *                   that depends on the mode or on x2APIC mode
 *   3. REGS         before the events: SET_REGS discards a pending
 *                   exception (spec §6.12 O4)
 *   4. XCRS         XCR0 before the XSAVE image it shapes
 *   5. XSAVE        x87 / SSE / AVX state (FPU as a fallback)
 *   6. MSRs         everything listed by the source except the
 *                   TSC deadline
 *   7. LAPIC        register page after APIC_BASE (2) and before the timer
 *   8. TSC_DEADLINE after the LAPIC, whose LVT timer mode it needs
 *   9. VCPU_EVENTS  the exception queue (pending with its payload, or
 *                   injected), NMI and interrupt state, shadow
 *  10. MP_STATE     last but one: INIT_RECEIVED needs the LAPIC
 *  11. DEBUGREGS    last, as QEMU does
 */
#ifndef NV_VCPU_STATE_H
#define NV_VCPU_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include "nestvm/nestvm.h"

#define VCPU_STATE_MAX_MSRS 160
#define VCPU_STATE_MAX_CPUID 256

struct vcpu_state {
	uint32_t ncpuid;
	struct kvm_cpuid_entry2 cpuid[VCPU_STATE_MAX_CPUID];
	bool have_sregs2;
	struct kvm_sregs2 sregs2;
	struct kvm_sregs sregs;		/* when SREGS2 is absent */
	struct kvm_regs regs;
	struct kvm_xcrs xcrs;
	bool have_xsave;
	struct kvm_xsave xsave;
	struct kvm_fpu fpu;		/* when XSAVE is absent */
	uint32_t nmsrs;
	struct kvm_msr_entry msrs[VCPU_STATE_MAX_MSRS];
	bool have_tsc_deadline;
	uint64_t tsc_deadline;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_debugregs debugregs;
};

/* vcpu_state_set flags */
#define VCPU_STATE_KEEP_CPUID 1	/* leave the destination's CPUID as it is */
/*
 * MSRs the destination does not implement (the other engine's extras:
 * KVM's paravirtual and platform MSRs, the emulator's PMU) are skipped and
 * counted instead of failing the restore; err lists them.
 */
#define VCPU_STATE_MSR_BEST_EFFORT 2

/*
 * Complete a pending I/O or MMIO exit: one KVM_RUN with immediate_exit.
 * Returns 0 when the state is consistent, 1 if the vCPU made another exit
 * the caller must handle first (then call again), or a negative errno.
 */
int vcpu_state_sync(struct nv_vcpu *v);

/*
 * 0, or a negative errno with a message in err.  vm is v's VM (its MSR
 * index list says which MSRs are state).
 */
int vcpu_state_get(struct nv_vm *vm, struct nv_vcpu *v, struct vcpu_state *s, char *err,
		   size_t errlen);
/* 0 (or with MSR_BEST_EFFORT the number of MSRs skipped), or a negative errno */
int vcpu_state_set(struct nv_vcpu *v, const struct vcpu_state *s, unsigned int flags,
		   char *err, size_t errlen);

/*
 * Enable on vm the VM capabilities the state's events rely on
 * (KVM_CAP_EXCEPTION_PAYLOAD, KVM_CAP_X86_TRIPLE_FAULT_EVENT) — before
 * vcpu_state_set.
 */
int vcpu_state_enable_caps(struct nv_vm *vm, const struct vcpu_state *s);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Engines behind the public API (include/nestvm/nestvm.h): the emulator
 * (emu.c) and /dev/kvm (kvm.c).  api.c dispatches every call through one
 * of these tables; an engine leaves a slot NULL for "not supported"
 * (-ENOTSUP, or what KVM itself would return, see api.c).
 */
#ifndef NV_ACCEL_H
#define NV_ACCEL_H

#include <stdbool.h>

#include "nestvm/nestvm.h"

/* engines see the FRED nested-flag capability under this number */
#define NV_CAP_NESTED_FLAG 0x7fff0001

struct nv_vm {
	enum nv_engine engine;
	uint32_t nested_flag_cap;
	const struct accel_ops *ops;
	void *impl;
	struct nv_vcpu *vcpus[256];
	int nvcpus;
};

struct nv_vcpu {
	struct nv_vm *vm;
	unsigned int id;
	void *impl;
	struct kvm_run *run;
	bool ran;		/* KVM_RUN was called (KVM: kvm_vcpu_has_run) */
};

#define VOP(name, type) int (*name)(struct nv_vcpu *v, type arg)
struct accel_ops {
	const char *name;
	int (*create_vm)(struct nv_vm *vm);
	void (*destroy_vm)(struct nv_vm *vm);
	int (*check_extension)(struct nv_vm *vm, long cap);
	int (*enable_cap)(struct nv_vm *vm, const struct kvm_enable_cap *cap);
	int (*set_memory)(struct nv_vm *vm, const struct kvm_userspace_memory_region *r);
	int (*signal_msi)(struct nv_vm *vm, const struct kvm_msi *msi);
	int (*get_msr_index_list)(struct nv_vm *vm, struct kvm_msr_list *l);
	int (*get_supported_cpuid)(struct nv_vm *vm, struct kvm_cpuid2 *c);
	int (*set_cpu_model)(struct nv_vm *vm, const char *spec);

	int (*create_vcpu)(struct nv_vcpu *v);
	void (*destroy_vcpu)(struct nv_vcpu *v);
	int (*run)(struct nv_vcpu *v);
	int (*set_budget)(struct nv_vcpu *v, uint64_t n);
	int (*get_icount)(struct nv_vcpu *v, uint64_t *n);
	int (*get_clock)(struct nv_vcpu *v, uint64_t *n);
	int (*set_clock)(struct nv_vcpu *v, uint64_t n);
	int (*set_budget_until)(struct nv_vcpu *v, uint64_t n);
	int (*next_deadline)(struct nv_vcpu *v, uint64_t *n);
	VOP(get_regs, struct kvm_regs *);
	VOP(set_regs, const struct kvm_regs *);
	VOP(get_sregs, struct kvm_sregs *);
	VOP(set_sregs, const struct kvm_sregs *);
	VOP(get_sregs2, struct kvm_sregs2 *);
	VOP(set_sregs2, const struct kvm_sregs2 *);
	VOP(get_fpu, struct kvm_fpu *);
	VOP(set_fpu, const struct kvm_fpu *);
	VOP(get_xsave, struct kvm_xsave *);
	VOP(set_xsave, const struct kvm_xsave *);
	VOP(get_xcrs, struct kvm_xcrs *);
	VOP(set_xcrs, const struct kvm_xcrs *);
	VOP(get_debugregs, struct kvm_debugregs *);
	VOP(set_debugregs, const struct kvm_debugregs *);
	VOP(get_msrs, struct kvm_msrs *);
	VOP(set_msrs, const struct kvm_msrs *);
	VOP(get_events, struct kvm_vcpu_events *);
	VOP(set_events, const struct kvm_vcpu_events *);
	VOP(get_mp_state, struct kvm_mp_state *);
	VOP(set_mp_state, const struct kvm_mp_state *);
	VOP(get_lapic, struct kvm_lapic_state *);
	VOP(set_lapic, const struct kvm_lapic_state *);
	VOP(get_nested_state, struct kvm_nested_state *);
	VOP(set_nested_state, const struct kvm_nested_state *);
	VOP(set_cpuid2, const struct kvm_cpuid2 *);
	VOP(get_cpuid2, struct kvm_cpuid2 *);
	VOP(interrupt, const struct kvm_interrupt *);
	int (*nmi)(struct nv_vcpu *v);
	VOP(set_guest_debug, const struct kvm_guest_debug *);
	VOP(translate, struct kvm_translation *);
	VOP(get_private, struct nv_private_state *);
	VOP(set_private, const struct nv_private_state *);
	int (*get_vm_private)(struct nv_vm *vm, struct nv_vm_private_state *st);
	int (*set_vm_private)(struct nv_vm *vm, const struct nv_vm_private_state *st);
};
#undef VOP

extern const struct accel_ops accel_emu_ops;
extern const struct accel_ops accel_kvm_ops;

/* message for nv_last_error() */
void nv_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

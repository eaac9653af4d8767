// SPDX-License-Identifier: MIT
/*
 * The public vCPU API: validation common to both engines, then dispatch.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "accel.h"

static __thread char last_error[256];

void nv_set_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

const char *nv_last_error(void)
{
	return last_error;
}

struct nv_vm *nv_create_vm(enum nv_engine engine, int *err)
{
	const struct accel_ops *ops;
	switch (engine) {
	case NV_ENGINE_EMU: ops = &accel_emu_ops; break;
	case NV_ENGINE_KVM: ops = &accel_kvm_ops; break;
	default:
		*err = -EINVAL;
		nv_set_error("unknown engine %d", (int)engine);
		return NULL;
	}
	struct nv_vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		*err = -ENOMEM;
		return NULL;
	}
	vm->engine = engine;
	vm->ops = ops;
	vm->nested_flag_cap = NV_CAP_EXCEPTION_NESTED_FLAG_DEFAULT;
	int r = ops->create_vm(vm);
	if (r < 0) {
		free(vm);
		*err = r;
		return NULL;
	}
	*err = 0;
	return vm;
}

void nv_destroy_vm(struct nv_vm *vm)
{
	if (!vm)
		return;
	for (int k = 0; k < vm->nvcpus; k++) {
		if (vm->vcpus[k]) {
			vm->ops->destroy_vcpu(vm->vcpus[k]);
			free(vm->vcpus[k]);
		}
	}
	vm->ops->destroy_vm(vm);
	free(vm);
}

enum nv_engine nv_vm_engine(const struct nv_vm *vm)
{
	return vm->engine;
}

#define CALL(vm, op, ...) ((vm)->ops->op ? (vm)->ops->op(__VA_ARGS__) : -ENOTSUP)

/*
 * The FRED nested-flag capability has no stable number (spec §8 U1): the
 * VM's configured number is translated to NV_CAP_NESTED_FLAG here, so the
 * engines never see the unstable value.
 */
static long map_cap(const struct nv_vm *vm, long cap)
{
	if (cap == (long)vm->nested_flag_cap)
		return NV_CAP_NESTED_FLAG;
	if (cap == NV_CAP_NESTED_FLAG)
		return -1;
	return cap;
}

int nv_check_extension(struct nv_vm *vm, long cap)
{
	return CALL(vm, check_extension, vm, map_cap(vm, cap));
}

int nv_enable_cap(struct nv_vm *vm, const struct kvm_enable_cap *cap)
{
	if (!cap)
		return -EFAULT;
	if (cap->flags)
		return -EINVAL;
	struct kvm_enable_cap c = *cap;
	c.cap = (uint32_t)map_cap(vm, cap->cap);
	return CALL(vm, enable_cap, vm, &c);
}

int nv_set_nested_flag_cap(struct nv_vm *vm, uint32_t n)
{
	if (n == 0 || n >= NV_CAP_NESTED_FLAG)
		return -EINVAL;
	vm->nested_flag_cap = n;
	return 0;
}

uint32_t nv_nested_flag_cap(const struct nv_vm *vm)
{
	return vm->nested_flag_cap;
}

int nv_set_user_memory_region(struct nv_vm *vm, const struct kvm_userspace_memory_region *r)
{
	if (!r)
		return -EFAULT;
	if ((r->guest_phys_addr | r->memory_size | r->userspace_addr) & 0xfff)
		return -EINVAL;
	if (r->flags & ~(uint32_t)(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY))
		return -EINVAL;
	if (r->guest_phys_addr + r->memory_size < r->guest_phys_addr)
		return -EINVAL;
	return CALL(vm, set_memory, vm, r);
}

int nv_signal_msi(struct nv_vm *vm, const struct kvm_msi *msi)
{
	if (!msi)
		return -EFAULT;
	return CALL(vm, signal_msi, vm, msi);
}

int nv_get_msr_index_list(struct nv_vm *vm, struct kvm_msr_list *l)
{
	return CALL(vm, get_msr_index_list, vm, l);
}

int nv_get_supported_cpuid(struct nv_vm *vm, struct kvm_cpuid2 *c)
{
	return CALL(vm, get_supported_cpuid, vm, c);
}

int nv_set_cpu_model(struct nv_vm *vm, const char *spec)
{
	return CALL(vm, set_cpu_model, vm, spec);
}

struct nv_vcpu *nv_create_vcpu(struct nv_vm *vm, unsigned int id, int *err)
{
	if (id >= 256) {
		*err = -EINVAL;
		return NULL;
	}
	for (int k = 0; k < vm->nvcpus; k++) {
		if (vm->vcpus[k] && vm->vcpus[k]->id == id) {
			*err = -EEXIST;
			return NULL;
		}
	}
	if (vm->nvcpus >= 256) {
		*err = -EINVAL;
		return NULL;
	}
	struct nv_vcpu *v = calloc(1, sizeof(*v));
	if (!v) {
		*err = -ENOMEM;
		return NULL;
	}
	v->vm = vm;
	v->id = id;
	int r = vm->ops->create_vcpu(v);
	if (r < 0) {
		free(v);
		*err = r;
		return NULL;
	}
	vm->vcpus[vm->nvcpus++] = v;
	*err = 0;
	return v;
}

struct kvm_run *nv_vcpu_run_page(struct nv_vcpu *v)
{
	return v->run;
}

unsigned int nv_vcpu_id(const struct nv_vcpu *v)
{
	return v->id;
}

int nv_run(struct nv_vcpu *v)
{
	v->ran = true;
	return v->vm->ops->run(v);
}

int nv_set_budget(struct nv_vcpu *v, uint64_t n)
{
	return CALL(v->vm, set_budget, v, n);
}

int nv_get_icount(struct nv_vcpu *v, uint64_t *n)
{
	return CALL(v->vm, get_icount, v, n);
}

int nv_get_clock(struct nv_vcpu *v, uint64_t *n)
{
	return CALL(v->vm, get_clock, v, n);
}

int nv_set_clock(struct nv_vcpu *v, uint64_t n)
{
	return CALL(v->vm, set_clock, v, n);
}

int nv_set_budget_until(struct nv_vcpu *v, uint64_t n)
{
	return CALL(v->vm, set_budget_until, v, n);
}

int nv_next_deadline(struct nv_vcpu *v, uint64_t *n)
{
	return CALL(v->vm, next_deadline, v, n);
}

#define GETSET(fn, op, type) \
	int fn(struct nv_vcpu *v, type arg) \
	{ \
		if (!arg) \
			return -EFAULT; \
		return CALL(v->vm, op, v, arg); \
	}

GETSET(nv_get_regs, get_regs, struct kvm_regs *)
GETSET(nv_set_regs, set_regs, const struct kvm_regs *)
GETSET(nv_get_sregs, get_sregs, struct kvm_sregs *)
GETSET(nv_set_sregs, set_sregs, const struct kvm_sregs *)
GETSET(nv_get_sregs2, get_sregs2, struct kvm_sregs2 *)
GETSET(nv_set_sregs2, set_sregs2, const struct kvm_sregs2 *)
GETSET(nv_get_fpu, get_fpu, struct kvm_fpu *)
GETSET(nv_set_fpu, set_fpu, const struct kvm_fpu *)
GETSET(nv_get_xsave, get_xsave, struct kvm_xsave *)
GETSET(nv_set_xsave, set_xsave, const struct kvm_xsave *)
GETSET(nv_get_xcrs, get_xcrs, struct kvm_xcrs *)
GETSET(nv_set_xcrs, set_xcrs, const struct kvm_xcrs *)
GETSET(nv_get_debugregs, get_debugregs, struct kvm_debugregs *)
GETSET(nv_set_debugregs, set_debugregs, const struct kvm_debugregs *)
GETSET(nv_get_msrs, get_msrs, struct kvm_msrs *)
GETSET(nv_set_msrs, set_msrs, const struct kvm_msrs *)
GETSET(nv_get_vcpu_events, get_events, struct kvm_vcpu_events *)
GETSET(nv_set_vcpu_events, set_events, const struct kvm_vcpu_events *)
GETSET(nv_get_mp_state, get_mp_state, struct kvm_mp_state *)
GETSET(nv_set_mp_state, set_mp_state, const struct kvm_mp_state *)
GETSET(nv_get_lapic, get_lapic, struct kvm_lapic_state *)
GETSET(nv_set_lapic, set_lapic, const struct kvm_lapic_state *)
GETSET(nv_get_nested_state, get_nested_state, struct kvm_nested_state *)
GETSET(nv_set_nested_state, set_nested_state, const struct kvm_nested_state *)
GETSET(nv_set_cpuid2, set_cpuid2, const struct kvm_cpuid2 *)
GETSET(nv_get_cpuid2, get_cpuid2, struct kvm_cpuid2 *)
GETSET(nv_interrupt, interrupt, const struct kvm_interrupt *)
GETSET(nv_set_guest_debug, set_guest_debug, const struct kvm_guest_debug *)
GETSET(nv_translate, translate, struct kvm_translation *)

static bool reserved_zero(const uint64_t *r, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (r[k])
			return false;
	return true;
}

int nv_get_private_state(struct nv_vcpu *v, struct nv_private_state *st)
{
	if (!st)
		return -EFAULT;
	if (st->version != NV_PRIVATE_STATE_VERSION || st->size != sizeof(*st))
		return -EINVAL;
	return CALL(v->vm, get_private, v, st);
}

int nv_set_private_state(struct nv_vcpu *v, const struct nv_private_state *st)
{
	if (!st)
		return -EFAULT;
	if (st->version != NV_PRIVATE_STATE_VERSION || st->size != sizeof(*st) ||
	    !reserved_zero(st->reserved, sizeof(st->reserved) / sizeof(st->reserved[0])) ||
	    st->pad[0] || st->pad[1] || st->pad2)
		return -EINVAL;
	return CALL(v->vm, set_private, v, st);
}

int nv_get_vm_private_state(struct nv_vm *vm, struct nv_vm_private_state *st)
{
	if (!st)
		return -EFAULT;
	if (st->version != NV_VM_PRIVATE_STATE_VERSION || st->size != sizeof(*st))
		return -EINVAL;
	return CALL(vm, get_vm_private, vm, st);
}

int nv_set_vm_private_state(struct nv_vm *vm, const struct nv_vm_private_state *st)
{
	if (!st)
		return -EFAULT;
	if (st->version != NV_VM_PRIVATE_STATE_VERSION || st->size != sizeof(*st) ||
	    !reserved_zero(st->reserved, sizeof(st->reserved) / sizeof(st->reserved[0])))
		return -EINVAL;
	return CALL(vm, set_vm_private, vm, st);
}

int nv_nmi(struct nv_vcpu *v)
{
	return CALL(v->vm, nmi, v);
}

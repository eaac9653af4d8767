// SPDX-License-Identifier: MIT
/*
 * Whole-vCPU state transfer through the public API (vcpu_state.h): the
 * restore order is documented there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vcpu_state.h"

#define MSR_APIC_BASE 0x1b
#define MSR_TSC_DEADLINE 0x6e0
#define MSR_EFER 0xc0000080
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101

struct msr1 {
	struct kvm_msrs h;
	struct kvm_msr_entry e;
};

static int msr_get1(struct nv_vcpu *v, uint32_t idx, uint64_t *val)
{
	struct msr1 m;
	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 1;
	m.e.index = idx;
	int r = nv_get_msrs(v, &m.h);
	*val = m.e.data;
	return r == 1 ? 0 : -1;
}

static int msr_set1(struct nv_vcpu *v, uint32_t idx, uint64_t val)
{
	struct msr1 m;
	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 1;
	m.e.index = idx;
	m.e.data = val;
	return nv_set_msrs(v, &m.h) == 1 ? 0 : -1;
}

int vcpu_state_sync(struct nv_vcpu *v)
{
	struct kvm_run *run = nv_vcpu_run_page(v);
	uint32_t reason = run->exit_reason;
	run->immediate_exit = 1;
	int r = nv_run(v);
	run->immediate_exit = 0;
	if (r == -EINTR) {
		run->exit_reason = reason;
		return 0;
	}
	if (r < 0)
		return r;
	return 1;	/* another exit (e.g. the next queued write): handle it first */
}

/* state kept in dedicated structures, not in the MSR list */
static bool msr_elsewhere(uint32_t idx)
{
	return idx == MSR_APIC_BASE || idx == MSR_EFER || idx == MSR_FS_BASE ||
	       idx == MSR_GS_BASE || idx == MSR_TSC_DEADLINE;
}

#define FAIL(r, ...) \
	do { \
		snprintf(err, errlen, __VA_ARGS__); \
		return (r) < 0 ? (r) : -EIO; \
	} while (0)

int vcpu_state_get(struct nv_vm *vm, struct nv_vcpu *v, struct vcpu_state *s, char *err,
		   size_t errlen)
{
	int r;
	memset(s, 0, sizeof(*s));
	/* first: GET_MP_STATE acts on a latched INIT / SIPI (KVM), changing the rest */
	if ((r = nv_get_mp_state(v, &s->mp_state)) < 0)
		FAIL(r, "GET_MP_STATE: %s", strerror(-r));

	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + VCPU_STATE_MAX_CPUID * sizeof(c->entries[0]));
	if (!c)
		FAIL(-ENOMEM, "out of memory");
	c->nent = VCPU_STATE_MAX_CPUID;
	r = nv_get_cpuid2(v, c);
	if (r == 0) {
		s->ncpuid = c->nent;
		memcpy(s->cpuid, c->entries, c->nent * sizeof(c->entries[0]));
	}
	free(c);
	if (r < 0)
		FAIL(r, "GET_CPUID2: %s", strerror(-r));

	if (nv_get_sregs2(v, &s->sregs2) == 0)
		s->have_sregs2 = true;
	else if ((r = nv_get_sregs(v, &s->sregs)) < 0)
		FAIL(r, "GET_SREGS: %s", strerror(-r));
	if ((r = nv_get_regs(v, &s->regs)) < 0)
		FAIL(r, "GET_REGS: %s", strerror(-r));
	if (nv_get_xcrs(v, &s->xcrs) < 0)
		s->xcrs.nr_xcrs = 0;
	if (nv_get_xsave(v, &s->xsave) == 0)
		s->have_xsave = true;
	else if ((r = nv_get_fpu(v, &s->fpu)) < 0)
		FAIL(r, "GET_FPU: %s", strerror(-r));

	/* MSRs: those the engine lists, one by one (some may be unreadable now) */
	{
		struct kvm_msr_list *l = calloc(1, sizeof(*l) + 1024 * sizeof(uint32_t));
		if (!l)
			FAIL(-ENOMEM, "out of memory");
		l->nmsrs = 1024;
		r = nv_get_msr_index_list(vm, l);
		if (r < 0) {
			free(l);
			FAIL(r, "GET_MSR_INDEX_LIST: %s", strerror(-r));
		}
		for (uint32_t k = 0; k < l->nmsrs; k++) {
			uint64_t val;
			if (msr_elsewhere(l->indices[k]) || msr_get1(v, l->indices[k], &val) < 0)
				continue;
			if (s->nmsrs >= VCPU_STATE_MAX_MSRS) {
				free(l);
				FAIL(-E2BIG, "more than %d MSRs", VCPU_STATE_MAX_MSRS);
			}
			s->msrs[s->nmsrs].index = l->indices[k];
			s->msrs[s->nmsrs].data = val;
			s->nmsrs++;
		}
		free(l);
	}
	s->have_tsc_deadline = msr_get1(v, MSR_TSC_DEADLINE, &s->tsc_deadline) == 0;

	if ((r = nv_get_lapic(v, &s->lapic)) < 0)
		FAIL(r, "GET_LAPIC: %s", strerror(-r));
	if ((r = nv_get_vcpu_events(v, &s->events)) < 0)
		FAIL(r, "GET_VCPU_EVENTS: %s", strerror(-r));
	if ((r = nv_get_debugregs(v, &s->debugregs)) < 0)
		FAIL(r, "GET_DEBUGREGS: %s", strerror(-r));
	return 0;
}

int vcpu_state_enable_caps(struct nv_vm *vm, const struct vcpu_state *s)
{
	struct kvm_enable_cap cap = { .args = { 1 } };
	int r;
	if (s->events.flags & KVM_VCPUEVENT_VALID_PAYLOAD) {
		cap.cap = KVM_CAP_EXCEPTION_PAYLOAD;
		if ((r = nv_enable_cap(vm, &cap)) < 0)
			return r;
	}
	if (s->events.flags & KVM_VCPUEVENT_VALID_TRIPLE_FAULT) {
		cap.cap = KVM_CAP_X86_TRIPLE_FAULT_EVENT;
		if ((r = nv_enable_cap(vm, &cap)) < 0)
			return r;
	}
	return 0;
}

static void sregs2_to_sregs(const struct kvm_sregs2 *a, struct kvm_sregs *b)
{
	memset(b, 0, sizeof(*b));
	b->cs = a->cs; b->ds = a->ds; b->es = a->es; b->fs = a->fs;
	b->gs = a->gs; b->ss = a->ss; b->tr = a->tr; b->ldt = a->ldt;
	b->gdt = a->gdt; b->idt = a->idt;
	b->cr0 = a->cr0; b->cr2 = a->cr2; b->cr3 = a->cr3; b->cr4 = a->cr4;
	b->cr8 = a->cr8; b->efer = a->efer; b->apic_base = a->apic_base;
}

/*
 * An MSR the destination refuses is no loss if it already holds the value
 * (read-only MSRs such as MTRRcap) or does not have the MSR at all and the
 * value is 0 (a feature the guest never turned on).
 */
static bool msr_refusal_harmless(struct nv_vcpu *v, uint32_t idx, uint64_t want)
{
	uint64_t have;
	if (msr_get1(v, idx, &have) < 0)
		return want == 0;
	return have == want;
}

int vcpu_state_set(struct nv_vcpu *v, const struct vcpu_state *s, unsigned int flags,
		   char *err, size_t errlen)
{
	int r;
	if (!(flags & VCPU_STATE_KEEP_CPUID) && s->ncpuid) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + s->ncpuid * sizeof(c->entries[0]));
		if (!c)
			FAIL(-ENOMEM, "out of memory");
		c->nent = s->ncpuid;
		memcpy(c->entries, s->cpuid, s->ncpuid * sizeof(c->entries[0]));
		r = nv_set_cpuid2(v, c);
		free(c);
		if (r < 0)
			FAIL(r, "SET_CPUID2: %s", strerror(-r));
	}
	if (s->have_sregs2) {
		r = nv_set_sregs2(v, &s->sregs2);
		if (r == -ENOTTY || r == -ENOTSUP) {
			struct kvm_sregs sr;
			sregs2_to_sregs(&s->sregs2, &sr);
			r = nv_set_sregs(v, &sr);
		}
	} else {
		r = nv_set_sregs(v, &s->sregs);
	}
	if (r < 0)
		FAIL(r, "SET_SREGS: %s", strerror(-r));
	if ((r = nv_set_regs(v, &s->regs)) < 0)
		FAIL(r, "SET_REGS: %s", strerror(-r));
	if (s->xcrs.nr_xcrs && (r = nv_set_xcrs(v, &s->xcrs)) < 0)
		FAIL(r, "SET_XCRS (XCR0 %llx): %s", (unsigned long long)s->xcrs.xcrs[0].value,
		     strerror(-r));
	if (s->have_xsave)
		r = nv_set_xsave(v, &s->xsave);
	else
		r = nv_set_fpu(v, &s->fpu);
	if (r < 0)
		FAIL(r, "SET_XSAVE: %s", strerror(-r));
	int skipped = 0;
	size_t elen = 0;
	if (errlen)
		err[0] = 0;
	for (uint32_t k = 0; k < s->nmsrs; k++) {
		uint32_t idx = s->msrs[k].index;
		uint64_t val = s->msrs[k].data;
		if (msr_set1(v, idx, val) == 0 || msr_refusal_harmless(v, idx, val))
			continue;
		if (!(flags & VCPU_STATE_MSR_BEST_EFFORT))
			FAIL(-EINVAL, "MSR %#x = %#llx refused by the destination", idx,
			     (unsigned long long)val);
		skipped++;
		if (elen + 32 < errlen)
			elen += (size_t)snprintf(err + elen, errlen - elen, "%s%#x=%#llx",
						 skipped > 1 ? " " : "skipped MSRs: ", idx,
						 (unsigned long long)val);
	}
	if ((r = nv_set_lapic(v, &s->lapic)) < 0)
		FAIL(r, "SET_LAPIC: %s", strerror(-r));
	if (s->have_tsc_deadline && msr_set1(v, MSR_TSC_DEADLINE, s->tsc_deadline) < 0 &&
	    !msr_refusal_harmless(v, MSR_TSC_DEADLINE, s->tsc_deadline))
		FAIL(-EINVAL, "TSC_DEADLINE refused");
	if ((r = nv_set_vcpu_events(v, &s->events)) < 0)
		FAIL(r, "SET_VCPU_EVENTS (flags %#x): %s", s->events.flags, strerror(-r));
	if ((r = nv_set_mp_state(v, &s->mp_state)) < 0)
		FAIL(r, "SET_MP_STATE: %s", strerror(-r));
	if ((r = nv_set_debugregs(v, &s->debugregs)) < 0)
		FAIL(r, "SET_DEBUGREGS: %s", strerror(-r));
	return skipped;
}

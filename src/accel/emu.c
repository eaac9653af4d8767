// SPDX-License-Identifier: MIT
/*
 * The emulator engine: the public API on the software CPU, with KVM's
 * semantics (Documentation/virt/kvm/api.rst; spec §6 for the event ABI).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "accel.h"
#include "../cpu/cpu.h"
#include "../cpu/lapic.h"
#include "../cpu/fpu.h"
#include "../cpu/jit.h"

#define RUN_PAGE_SIZE 8192

static struct vm *VM(struct nv_vm *v)
{
	return v->impl;
}

static struct cpu *CPU(struct nv_vcpu *v)
{
	return v->impl;
}

static int emu_create_vm(struct nv_vm *nv)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	char err[160];
	if (cpuid_model_init(&vm->model, "intel", err, sizeof(err)) < 0) {
		free(vm);
		return -EINVAL;
	}
	vm->rng_state = 0x9e3779b97f4a7c15ULL;
	nv->impl = vm;
	return 0;
}

static void emu_destroy_vm(struct nv_vm *nv)
{
	struct vm *vm = VM(nv);
	for (int s = 0; s < vm->nslots; s++) {
		free(vm->slots[s].code);
		free(vm->slots[s].blocks);
	}
	jit_destroy(vm);
	free(vm->arena);
	free(vm->bhash);
	free(vm);
}

static int emu_check_extension(struct nv_vm *nv, long cap)
{
	(void)nv;
	switch (cap) {
	case KVM_CAP_USER_MEMORY:
	case KVM_CAP_VCPU_EVENTS:
	case KVM_CAP_EXCEPTION_PAYLOAD:
	case KVM_CAP_X86_TRIPLE_FAULT_EVENT:
	case KVM_CAP_X86_GUEST_MODE:
	case KVM_CAP_XSAVE:
	case KVM_CAP_XCRS:
	case KVM_CAP_DEBUGREGS:
	case KVM_CAP_MP_STATE:
	case KVM_CAP_SIGNAL_MSI:
	case KVM_CAP_SET_GUEST_DEBUG:
	case KVM_CAP_IMMEDIATE_EXIT:
	case KVM_CAP_SREGS2:
	case KVM_CAP_EXT_CPUID:
	case KVM_CAP_TSC_DEADLINE_TIMER:
	case KVM_CAP_SPLIT_IRQCHIP:
	case NV_CAP_STRICT_SDM:
	case NV_CAP_NESTED_FLAG:
		return 1;
	case KVM_CAP_NR_VCPUS:
	case KVM_CAP_MAX_VCPUS:
	case KVM_CAP_MAX_VCPU_ID:
		return VM_MAX_VCPUS;
	case KVM_CAP_NR_MEMSLOTS:
		return VM_MAX_SLOTS;
	case KVM_CAP_NESTED_STATE:
		return 0;	/* no VMX / SVM yet */
	default:
		return 0;
	}
}

static int emu_enable_cap(struct nv_vm *nv, const struct kvm_enable_cap *cap)
{
	struct vm *vm = VM(nv);
	switch (cap->cap) {
	case KVM_CAP_EXCEPTION_PAYLOAD:
		vm->cap_exception_payload = cap->args[0] != 0;
		return 0;
	case KVM_CAP_X86_TRIPLE_FAULT_EVENT:
		vm->cap_triple_fault_event = cap->args[0] != 0;
		return 0;
	case NV_CAP_NESTED_FLAG:
		vm->cap_nested_flag = cap->args[0] != 0;
		return 0;
	case NV_CAP_STRICT_SDM:
		if (cap->args[0] > 1)
			return -EINVAL;
		vm->strict = cap->args[0] != 0;
		return 0;
	case KVM_CAP_SPLIT_IRQCHIP:
		return 0;
	default:
		return -EINVAL;
	}
}

static int emu_set_memory(struct nv_vm *nv, const struct kvm_userspace_memory_region *r)
{
	struct vm *vm = VM(nv);
	int idx = -1;
	for (int k = 0; k < vm->nslots; k++)
		if (vm->slots[k].slot == r->slot)
			idx = k;
	if (r->memory_size == 0) {
		if (idx < 0)
			return 0;
		free(vm->slots[idx].code);
		free(vm->slots[idx].blocks);
		vm->slots[idx] = vm->slots[--vm->nslots];
		code_flush_all(vm);
		mmu_flush_all_vcpus(vm);
		return 0;
	}
	for (int k = 0; k < vm->nslots; k++) {
		struct memslot *s = &vm->slots[k];
		if (k == idx)
			continue;
		if (r->guest_phys_addr < s->gpa + s->size &&
		    s->gpa < r->guest_phys_addr + r->memory_size)
			return -EEXIST;
	}
	if (idx < 0) {
		if (vm->nslots >= VM_MAX_SLOTS || (r->slot & 0xffff) >= VM_MAX_SLOTS)
			return -EINVAL;
		idx = vm->nslots++;
	} else {
		free(vm->slots[idx].code);
		free(vm->slots[idx].blocks);
	}
	struct memslot *s = &vm->slots[idx];
	memset(s, 0, sizeof(*s));
	s->slot = r->slot;
	s->flags = r->flags;
	s->gpa = r->guest_phys_addr;
	s->size = r->memory_size;
	s->host = (uint8_t *)(uintptr_t)r->userspace_addr;
	if (vm->arena)
		code_flush_all(vm);
	mmu_flush_all_vcpus(vm);
	return 0;
}

/* as KVM_SIGNAL_MSI: the number of local APICs that accepted it */
static int emu_signal_msi(struct nv_vm *nv, const struct kvm_msi *m)
{
	if (m->flags & ~(uint32_t)KVM_MSI_VALID_DEVID)
		return -EINVAL;
	return lapic_msi(VM(nv), m->address_lo | ((uint64_t)m->address_hi << 32), m->data);
}

static int emu_msr_list(struct nv_vm *nv, struct kvm_msr_list *l)
{
	(void)nv;
	uint32_t n = l->nmsrs;
	l->nmsrs = (uint32_t)msr_index_count;
	if (n < (uint32_t)msr_index_count)
		return -E2BIG;
	memcpy(l->indices, msr_index_list, sizeof(uint32_t) * msr_index_count);
	return 0;
}

static int cpuid_out(const struct cpu_model *m, struct kvm_cpuid2 *c)
{
	/* KVM_GET_CPUID2 / KVM_GET_SUPPORTED_CPUID leave nent alone on -E2BIG */
	if (c->nent < (uint32_t)m->nent)
		return -E2BIG;
	c->nent = (uint32_t)m->nent;
	for (int k = 0; k < m->nent; k++) {
		struct kvm_cpuid_entry2 *e = &c->entries[k];
		memset(e, 0, sizeof(*e));
		e->function = m->ent[k].fn;
		e->index = m->ent[k].idx;
		e->flags = m->ent[k].flags;
		e->eax = m->ent[k].eax;
		e->ebx = m->ent[k].ebx;
		e->ecx = m->ent[k].ecx;
		e->edx = m->ent[k].edx;
	}
	return 0;
}

static int emu_supported_cpuid(struct nv_vm *nv, struct kvm_cpuid2 *c)
{
	return cpuid_out(&VM(nv)->model, c);
}

static int emu_set_cpu_model(struct nv_vm *nv, const char *spec)
{
	struct vm *vm = VM(nv);
	char err[200];
	struct cpu_model m;
	if (vm->nvcpus) {
		nv_set_error("the CPU model must be set before vCPUs are created");
		return -EBUSY;
	}
	if (cpuid_model_init(&m, spec, err, sizeof(err)) < 0) {
		nv_set_error("%s", err);
		return -EINVAL;
	}
	vm->model = m;
	return 0;
}

static int emu_create_vcpu(struct nv_vcpu *v)
{
	struct vm *vm = VM(v->vm);
	if (vm->nvcpus >= VM_MAX_VCPUS)
		return -EINVAL;
	struct kvm_run *run = aligned_alloc(4096, RUN_PAGE_SIZE);
	if (!run)
		return -ENOMEM;
	memset(run, 0, RUN_PAGE_SIZE);
	vm->vcpu[vm->nvcpus++] = NULL;
	struct cpu *c = cpu_create(vm, (int)v->id);
	if (!c) {
		vm->nvcpus--;
		free(run);
		return -ENOMEM;
	}
	vm->vcpu[vm->nvcpus - 1] = c;
	c->run = run;
	v->run = run;
	v->impl = c;
	return 0;
}

static void emu_destroy_vcpu(struct nv_vcpu *v)
{
	struct cpu *c = CPU(v);
	free(c->run);
	cpu_destroy(c);
}

static int emu_run(struct nv_vcpu *v)
{
	return cpu_run(CPU(v));
}

static int emu_set_budget(struct nv_vcpu *v, uint64_t n)
{
	struct cpu *c = CPU(v);
	c->budget_end = n ? c->clock + n : ~0ULL;
	return 0;
}

static int emu_get_icount(struct nv_vcpu *v, uint64_t *n)
{
	*n = cpu_icount(CPU(v));
	return 0;
}

static int emu_get_clock(struct nv_vcpu *v, uint64_t *n)
{
	*n = CPU(v)->clock;
	return 0;
}

static int emu_set_clock(struct nv_vcpu *v, uint64_t n)
{
	struct cpu *c = CPU(v);
	uint64_t ic = cpu_icount(c);
	c->clock = n;
	c->idle = n - ic;	/* the instruction count is kept */
	return 0;
}

static int emu_set_budget_until(struct nv_vcpu *v, uint64_t n)
{
	CPU(v)->budget_end = n;
	return 0;
}

static int emu_next_deadline(struct nv_vcpu *v, uint64_t *n)
{
	*n = cpu_next_event(CPU(v));
	return 0;
}

/* ---- registers --------------------------------------------------------------- */

static int emu_get_regs(struct nv_vcpu *v, struct kvm_regs *r)
{
	struct cpu *c = CPU(v);
	const uint64_t *g = c->gpr;
	r->rax = g[R_AX]; r->rbx = g[R_BX]; r->rcx = g[R_CX]; r->rdx = g[R_DX];
	r->rsi = g[R_SI]; r->rdi = g[R_DI]; r->rsp = g[R_SP]; r->rbp = g[R_BP];
	r->r8 = g[8]; r->r9 = g[9]; r->r10 = g[10]; r->r11 = g[11];
	r->r12 = g[12]; r->r13 = g[13]; r->r14 = g[14]; r->r15 = g[15];
	r->rip = c->rip;
	r->rflags = cpu_get_rflags(c);
	return 0;
}

static int emu_set_regs(struct nv_vcpu *v, const struct kvm_regs *r)
{
	struct cpu *c = CPU(v);
	uint64_t *g = c->gpr;
	g[R_AX] = r->rax; g[R_BX] = r->rbx; g[R_CX] = r->rcx; g[R_DX] = r->rdx;
	g[R_SI] = r->rsi; g[R_DI] = r->rdi; g[R_SP] = r->rsp; g[R_BP] = r->rbp;
	g[8] = r->r8; g[9] = r->r9; g[10] = r->r10; g[11] = r->r11;
	g[12] = r->r12; g[13] = r->r13; g[14] = r->r14; g[15] = r->r15;
	c->rip = r->rip;
	cpu_set_rflags_raw(c, r->rflags);
	/*
	 * KVM (__set_regs) discards a pending exception: re-executing the
	 * instruction at the new RIP regenerates it (spec §6.5, T18).  An
	 * injected one survives.  Strict mode keeps one restored by
	 * SET_VCPU_EVENTS since the last run (spec U10).
	 */
	if (!(c->vm->strict && c->evt.exc_from_user)) {
		if (c->evt.exc.pending)
			memset(&c->evt.exc, 0, sizeof(c->evt.exc));
		c->evt.exc_vmexit.pending = false;
	}
	cpu_update_mode(c);
	return 0;
}

static void seg_to_kvm(const struct seg *s, struct kvm_segment *k)
{
	memset(k, 0, sizeof(*k));
	k->base = s->base;
	k->limit = s->limit;
	k->selector = s->sel;
	k->type = s->ar & 0xf;
	k->s = !!(s->ar & AR_S);
	k->dpl = (s->ar >> AR_DPL_SHIFT) & 3;
	k->present = !!(s->ar & AR_P);
	k->avl = !!(s->ar & AR_AVL);
	k->l = !!(s->ar & AR_L);
	k->db = !!(s->ar & AR_DB);
	k->g = !!(s->ar & AR_G);
	k->unusable = !!(s->ar & AR_UNUSABLE);
}

static void seg_from_kvm(struct seg *s, const struct kvm_segment *k)
{
	s->base = k->base;
	s->limit = k->limit;
	s->sel = k->selector;
	s->ar = (k->type & 0xf) | (k->s ? AR_S : 0) | ((uint32_t)(k->dpl & 3) << AR_DPL_SHIFT) |
		(k->present ? AR_P : 0) | (k->avl ? AR_AVL : 0) | (k->l ? AR_L : 0) |
		(k->db ? AR_DB : 0) | (k->g ? AR_G : 0) | (k->unusable ? AR_UNUSABLE : 0);
}

static const int kvm_seg_order[8] = { S_CS, S_DS, S_ES, S_FS, S_GS, S_SS, S_TR, S_LDTR };

static void get_sregs_common(struct cpu *c, struct kvm_segment *segs,
			     struct kvm_dtable *gdt, struct kvm_dtable *idt, uint64_t *crs)
{
	for (int k = 0; k < 8; k++)
		seg_to_kvm(&c->seg[kvm_seg_order[k]], &segs[k]);
	gdt->base = c->gdtr.base;
	gdt->limit = c->gdtr.limit;
	idt->base = c->idtr.base;
	idt->limit = c->idtr.limit;
	memset(gdt->padding, 0, sizeof(gdt->padding));
	memset(idt->padding, 0, sizeof(idt->padding));
	/* legacy ABI: a pending payload is committed before it can be read */
	if (!c->vm->cap_exception_payload && c->evt.exc.pending && c->evt.exc.has_payload)
		evt_commit_payload(c, &c->evt.exc);
	crs[0] = c->cr0;
	crs[1] = c->cr2;
	crs[2] = c->cr3;
	crs[3] = c->cr4;
	crs[4] = lapic_get_cr8(c);
	crs[5] = c->efer;
	crs[6] = lapic_get_base(c);
}

/*
 * KVM's kvm_is_valid_sregs: combinations the hardware cannot hold, CR4 bits
 * the CPU model lacks, CR3 above MAXPHYADDR in long mode, CS.L outside it.
 */
static bool sregs_valid(const struct cpu *c, uint64_t cr0, uint64_t cr3, uint64_t cr4,
			uint64_t efer, bool cs_l)
{
	if ((cr0 & CR0_PG) && !(cr0 & CR0_PE))
		return false;
	if ((cr0 & CR0_NW) && !(cr0 & CR0_CD))
		return false;
	if (cr0 >> 32)
		return false;
	if (cr4 & ~cpu_cr4_valid_bits(c))
		return false;
	if ((efer & EFER_LME) && (cr0 & CR0_PG)) {
		if (!(cr4 & CR4_PAE) || !(efer & EFER_LMA))
			return false;
		if (c->model->maxphyaddr < 64 && (cr3 >> c->model->maxphyaddr))
			return false;
	} else if ((efer & EFER_LMA) || cs_l) {
		return false;
	}
	return true;
}

static int set_sregs_common(struct cpu *c, const struct kvm_segment *segs,
			    const struct kvm_dtable *gdt, const struct kvm_dtable *idt,
			    const uint64_t *crs)
{
	if (!sregs_valid(c, crs[0], crs[2], crs[3], crs[5], segs[0].l))
		return -EINVAL;
	if (!lapic_set_base(c, crs[6], true))
		return -EINVAL;
	for (int k = 0; k < 8; k++)
		seg_from_kvm(&c->seg[kvm_seg_order[k]], &segs[k]);
	c->gdtr.base = gdt->base;
	c->gdtr.limit = gdt->limit;
	c->idtr.base = idt->base;
	c->idtr.limit = idt->limit;
	c->cr0 = crs[0] | CR0_ET;
	c->cr2 = crs[1];
	c->cr3 = crs[2];
	c->cr4 = crs[3];
	lapic_set_cr8(c, crs[4] & 0xf);
	c->efer = crs[5];
	/* CPL: 0 in real mode, 3 in virtual-8086 mode, else SS.DPL (as VMX) */
	if (!(c->cr0 & CR0_PE))
		c->cpl = 0;
	else if (c->rflags & F_VM)
		c->cpl = 3;
	else
		c->cpl = (c->seg[S_SS].ar >> AR_DPL_SHIFT) & 3;
	mmu_flush(c);
	cpu_update_mode(c);
	return 0;
}

static int emu_get_sregs(struct nv_vcpu *v, struct kvm_sregs *s)
{
	struct cpu *c = CPU(v);
	uint64_t crs[7];
	struct kvm_segment segs[8];
	get_sregs_common(c, segs, &s->gdt, &s->idt, crs);
	s->cs = segs[0]; s->ds = segs[1]; s->es = segs[2]; s->fs = segs[3];
	s->gs = segs[4]; s->ss = segs[5]; s->tr = segs[6]; s->ldt = segs[7];
	s->cr0 = crs[0]; s->cr2 = crs[1]; s->cr3 = crs[2]; s->cr4 = crs[3];
	s->cr8 = crs[4]; s->efer = crs[5]; s->apic_base = crs[6];
	memset(s->interrupt_bitmap, 0, sizeof(s->interrupt_bitmap));
	if (c->evt.intr_injected && !c->evt.intr_soft)
		s->interrupt_bitmap[c->evt.intr_nr / 64] |= 1ULL << (c->evt.intr_nr % 64);
	return 0;
}

static int emu_set_sregs(struct nv_vcpu *v, const struct kvm_sregs *s)
{
	struct cpu *c = CPU(v);
	struct kvm_segment segs[8] = { s->cs, s->ds, s->es, s->fs, s->gs, s->ss, s->tr, s->ldt };
	uint64_t crs[7] = { s->cr0, s->cr2, s->cr3, s->cr4, s->cr8, s->efer, s->apic_base };
	int r = set_sregs_common(c, segs, &s->gdt, &s->idt, crs);
	if (r)
		return r;
	if ((c->cr0 & CR0_PG) && (c->cr4 & CR4_PAE) && !(c->efer & EFER_LMA))
		mmu_load_pdptrs(c, c->cr3);
	/* a pending interrupt in the bitmap becomes an injected interrupt */
	for (int w = 0; w < 4; w++) {
		if (s->interrupt_bitmap[w]) {
			int b = __builtin_ctzll(s->interrupt_bitmap[w]);
			c->evt.intr_injected = true;
			c->evt.intr_soft = false;
			c->evt.intr_nr = (uint8_t)(w * 64 + b);
			break;
		}
	}
	return 0;
}

static int emu_get_sregs2(struct nv_vcpu *v, struct kvm_sregs2 *s)
{
	struct cpu *c = CPU(v);
	uint64_t crs[7];
	struct kvm_segment segs[8];
	get_sregs_common(c, segs, &s->gdt, &s->idt, crs);
	s->cs = segs[0]; s->ds = segs[1]; s->es = segs[2]; s->fs = segs[3];
	s->gs = segs[4]; s->ss = segs[5]; s->tr = segs[6]; s->ldt = segs[7];
	s->cr0 = crs[0]; s->cr2 = crs[1]; s->cr3 = crs[2]; s->cr4 = crs[3];
	s->cr8 = crs[4]; s->efer = crs[5]; s->apic_base = crs[6];
	s->flags = 0;
	memset(s->pdptrs, 0, sizeof(s->pdptrs));
	if ((c->cr0 & CR0_PG) && (c->cr4 & CR4_PAE) && !(c->efer & EFER_LMA)) {
		s->flags = KVM_SREGS2_FLAGS_PDPTRS_VALID;
		memcpy(s->pdptrs, c->pdpte, sizeof(s->pdptrs));
	}
	return 0;
}

static int emu_set_sregs2(struct nv_vcpu *v, const struct kvm_sregs2 *s)
{
	struct cpu *c = CPU(v);
	if (s->flags & ~(uint64_t)KVM_SREGS2_FLAGS_PDPTRS_VALID)
		return -EINVAL;
	/* KVM: PDPTEs can only be given for PAE paging (__set_sregs2) */
	if ((s->flags & KVM_SREGS2_FLAGS_PDPTRS_VALID) &&
	    !((s->cr0 & CR0_PG) && (s->cr4 & CR4_PAE) && !(s->efer & EFER_LMA)))
		return -EINVAL;
	struct kvm_segment segs[8] = { s->cs, s->ds, s->es, s->fs, s->gs, s->ss, s->tr, s->ldt };
	uint64_t crs[7] = { s->cr0, s->cr2, s->cr3, s->cr4, s->cr8, s->efer, s->apic_base };
	int r = set_sregs_common(c, segs, &s->gdt, &s->idt, crs);
	if (r)
		return r;
	bool pae = (c->cr0 & CR0_PG) && (c->cr4 & CR4_PAE) && !(c->efer & EFER_LMA);
	if (pae && (s->flags & KVM_SREGS2_FLAGS_PDPTRS_VALID))
		memcpy(c->pdpte, s->pdptrs, sizeof(c->pdpte));
	else if (pae)
		mmu_load_pdptrs(c, c->cr3);
	return 0;
}

/* ---- FPU state (fpu.h / x87.c / sse.c own the format conversions) ---------- */

static int emu_get_fpu(struct nv_vcpu *v, struct kvm_fpu *f)
{
	fpu_get_kvm(CPU(v), f);
	return 0;
}

static int emu_set_fpu(struct nv_vcpu *v, const struct kvm_fpu *f)
{
	fpu_set_kvm(CPU(v), f);
	return 0;
}

/* XCR0 bits CPUID.(EAX=0DH,ECX=0) allows this vCPU (x87 always) */
static uint64_t xcr0_supported(struct cpu *c)
{
	uint32_t r[4];
	cpuid_query(c, 0xd, 0, r);
	return r[0] | ((uint64_t)r[3] << 32) | 1;
}

/*
 * KVM's uABI image holds every component the guest's CPUID supports plus
 * x87 and SSE, whatever XCR0 enables now (user_xfeatures =
 * guest_supported_xcr0 | FPSSE), and SET accepts XSTATE_BV within that
 * set: the image functions work on XCR0, so give them that set for the call.
 */
static int emu_get_xsave(struct nv_vcpu *v, struct kvm_xsave *x)
{
	struct cpu *c = CPU(v);
	uint64_t xcr0 = c->fpu.xcr0;
	memset(x, 0, sizeof(*x));
	/*
	 * x87 and SSE whatever XCR0 holds: legacy SSE runs with XCR0 = 1, and
	 * its registers must survive a save/restore (tests/unit/snapshot_events).
	 */
	c->fpu.xcr0 = xcr0_supported(c) | 2;
	fpu_xsave_image(c, (uint8_t *)x->region, ~0ULL, false);
	c->fpu.xcr0 = xcr0;
	return 0;
}

static int emu_set_xsave(struct nv_vcpu *v, const struct kvm_xsave *x)
{
	struct cpu *c = CPU(v);
	uint64_t xcr0 = c->fpu.xcr0;
	c->fpu.xcr0 = xcr0_supported(c) | 2;
	int r = fpu_xrstor_image(c, (const uint8_t *)x->region);
	c->fpu.xcr0 = xcr0;
	return r ? -EINVAL : 0;
}

static int emu_get_xcrs(struct nv_vcpu *v, struct kvm_xcrs *x)
{
	memset(x, 0, sizeof(*x));
	x->nr_xcrs = 1;
	x->xcrs[0].xcr = 0;
	x->xcrs[0].value = CPU(v)->fpu.xcr0;
	return 0;
}

/*
 * As KVM (kvm_vcpu_ioctl_x86_set_xcrs): only the first XCR0 entry is
 * applied; entries for other XCRs are ignored, not refused.
 */
static int emu_set_xcrs(struct nv_vcpu *v, const struct kvm_xcrs *x)
{
	struct cpu *c = CPU(v);
	if (x->nr_xcrs > KVM_MAX_XCRS || x->flags)
		return -EINVAL;
	for (uint32_t k = 0; k < x->nr_xcrs; k++) {
		if (x->xcrs[k].xcr != 0)
			continue;
		uint64_t val = x->xcrs[k].value;
		uint64_t sup = xcr0_supported(c);
		if (!(val & 1) || (val & ~sup) || ((val & 4) && !(val & 2)))
			return -EINVAL;
		c->fpu.xcr0 = val;
		break;
	}
	return 0;
}

static int emu_get_debugregs(struct nv_vcpu *v, struct kvm_debugregs *d)
{
	struct cpu *c = CPU(v);
	memset(d, 0, sizeof(*d));
	if (!c->vm->cap_exception_payload && c->evt.exc.pending && c->evt.exc.has_payload)
		evt_commit_payload(c, &c->evt.exc);
	memcpy(d->db, c->dr, sizeof(d->db));
	d->dr6 = c->dr[6];
	d->dr7 = c->dr[7];
	return 0;
}

static int emu_set_debugregs(struct nv_vcpu *v, const struct kvm_debugregs *d)
{
	struct cpu *c = CPU(v);
	if (d->flags || (d->dr6 >> 32) || (d->dr7 >> 32))
		return -EINVAL;
	memcpy(c->dr, d->db, sizeof(d->db));
	c->dr[6] = (d->dr6 & 0xe00fULL) | DR6_ACTIVE_LOW;
	c->dr[7] = (d->dr7 & 0xffff2bffULL) | 0x400;
	mmu_flush(c);
	return 0;
}

/* KVM's msr_io refuses batches of MAX_IO_MSRS (256) or more */
#define EMU_MAX_IO_MSRS 256

static int emu_get_msrs(struct nv_vcpu *v, struct kvm_msrs *m)
{
	struct cpu *c = CPU(v);
	uint32_t k;
	if (m->nmsrs >= EMU_MAX_IO_MSRS)
		return -E2BIG;
	for (k = 0; k < m->nmsrs; k++) {
		uint64_t val;
		if (!msr_read(c, m->entries[k].index, &val))
			break;
		m->entries[k].data = val;
	}
	return (int)k;
}

static int emu_set_msrs(struct nv_vcpu *v, const struct kvm_msrs *m)
{
	struct cpu *c = CPU(v);
	uint32_t k;
	if (m->nmsrs >= EMU_MAX_IO_MSRS)
		return -E2BIG;
	for (k = 0; k < m->nmsrs; k++)
		if (!msr_write(c, m->entries[k].index, m->entries[k].data, true))
			break;
	return (int)k;
}

/* ---- vCPU events (spec §6.2 - §6.5) ----------------------------------------- */

static int emu_get_events(struct nv_vcpu *v, struct kvm_vcpu_events *ev)
{
	struct cpu *c = CPU(v);
	struct vm *vm = c->vm;
	struct evt_state *s = &c->evt;
	struct evt_exc *e = &s->exc;

	if (s->exc_vmexit.pending && !e->pending && !e->injected)
		e = &s->exc_vmexit;
	if (!vm->cap_exception_payload && e->pending && e->has_payload)
		evt_commit_payload(c, e);
	memset(ev, 0, sizeof(*ev));
	if (e->vector != EXC_BP && e->vector != EXC_OF) {
		ev->exception.injected = e->injected;
		ev->exception.pending = e->pending;
		if (!vm->cap_exception_payload)
			ev->exception.injected |= e->pending;
	}
	if (vm->cap_exception_payload) {
		/* the exception.pending byte is only valid with VALID_PAYLOAD */
	} else {
		ev->exception.pending = 0;
	}
	ev->exception.nr = e->vector;
	ev->exception.has_error_code = e->has_error_code;
	ev->exception.error_code = e->error_code;
	ev->exception_has_payload = e->has_payload;
	ev->exception_payload = e->payload;
	ev->interrupt.injected = s->intr_injected && !s->intr_soft;
	ev->interrupt.nr = s->intr_nr;
	ev->interrupt.soft = 0;
	ev->interrupt.shadow = s->shadow;
	ev->nmi.injected = s->nmi_injected;
	ev->nmi.pending = s->nmi_pending;
	ev->nmi.masked = s->nmi_masked;
	ev->sipi_vector = 0;
	ev->smi.smm = s->smm;
	ev->smi.pending = s->smi_pending;
	ev->smi.smm_inside_nmi = s->smm_inside_nmi;
	ev->smi.latched_init = s->latched_init;
	ev->flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW |
		    KVM_VCPUEVENT_VALID_SMM;
	if (vm->cap_exception_payload)
		ev->flags |= KVM_VCPUEVENT_VALID_PAYLOAD;
	if (vm->cap_triple_fault_event) {
		ev->flags |= KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
		ev->triple_fault.pending = s->triple_fault;
	}
	if (vm->cap_nested_flag) {
		ev->flags |= KVM_VCPUEVENT_VALID_NESTED_FLAG;
		nv_events_is_nested(ev) = e->nested;
	}
	return 0;
}

static int emu_set_events(struct nv_vcpu *v, const struct kvm_vcpu_events *in)
{
	struct cpu *c = CPU(v);
	struct vm *vm = c->vm;
	struct evt_state *s = &c->evt;
	struct kvm_vcpu_events ev = *in;
	uint32_t known = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
			 KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |
			 KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
	if (vm->cap_nested_flag)
		known |= KVM_VCPUEVENT_VALID_NESTED_FLAG;

	/* validation, in KVM's order (spec §6.5 V2..V7) */
	if (ev.flags & ~known)
		return -EINVAL;
	if ((ev.flags & KVM_VCPUEVENT_VALID_PAYLOAD) && !vm->cap_exception_payload)
		return -EINVAL;
	/* normalisation */
	if (ev.flags & KVM_VCPUEVENT_VALID_PAYLOAD) {
		if (ev.exception.pending)
			ev.exception.injected = 0;
		else
			ev.exception_has_payload = 0;
	} else {
		ev.exception.pending = 0;
		ev.exception_has_payload = 0;
	}
	if (!(ev.flags & KVM_VCPUEVENT_VALID_NESTED_FLAG))
		nv_events_is_nested(&ev) = 0;
	if ((ev.exception.injected || ev.exception.pending) &&
	    (ev.exception.nr > 31 || ev.exception.nr == EXC_NMI))
		return -EINVAL;
	if ((ev.flags & KVM_VCPUEVENT_VALID_SMM) && (ev.smi.smm || ev.smi.pending) &&
	    c->mp_state == KVM_MP_STATE_INIT_RECEIVED)
		return -EINVAL;
	/* no SMM in this CPU: as KVM built without CONFIG_KVM_SMM */
	if ((ev.flags & KVM_VCPUEVENT_VALID_SMM) &&
	    (ev.smi.smm || ev.smi.pending || ev.smi.smm_inside_nmi))
		return -EINVAL;
	if ((ev.flags & KVM_VCPUEVENT_VALID_TRIPLE_FAULT) && !vm->cap_triple_fault_event)
		return -EINVAL;

	/* application (spec §6.5) */
	s->exc_from_user = ev.exception.pending;
	memset(&s->exc_vmexit, 0, sizeof(s->exc_vmexit));
	memset(&s->exc, 0, sizeof(s->exc));
	s->exc.pending = ev.exception.pending;
	s->exc.injected = ev.exception.injected;
	s->exc.vector = ev.exception.nr;
	s->exc.type = EVT_HW_EXC;
	s->exc.has_error_code = ev.exception.has_error_code;
	s->exc.error_code = ev.exception.error_code;
	s->exc.has_payload = ev.exception_has_payload;
	s->exc.payload = ev.exception_payload;
	s->exc.nested = nv_events_is_nested(&ev);
	if (!s->exc.pending && !s->exc.injected)
		memset(&s->exc, 0, sizeof(s->exc));

	s->intr_injected = ev.interrupt.injected;
	s->intr_nr = ev.interrupt.nr;
	s->intr_soft = ev.interrupt.soft;
	if (ev.flags & KVM_VCPUEVENT_VALID_SHADOW)
		s->shadow = ev.interrupt.shadow & (KVM_X86_SHADOW_INT_MOV_SS | KVM_X86_SHADOW_INT_STI);

	s->nmi_injected = ev.nmi.injected;
	if (ev.flags & KVM_VCPUEVENT_VALID_NMI_PENDING) {
		/* as process_nmi: at most 2, or 1 if masked or one is being injected */
		unsigned lim = (ev.nmi.masked || ev.nmi.injected) ? 1 : 2;
		s->nmi_pending = ev.nmi.pending > lim ? (uint8_t)lim : ev.nmi.pending;
	}
	s->nmi_masked = ev.nmi.masked;
	if (ev.flags & KVM_VCPUEVENT_VALID_SIPI_VECTOR)
		c->sipi_vector = (uint8_t)ev.sipi_vector;
	if (ev.flags & KVM_VCPUEVENT_VALID_SMM) {
		s->smi_pending = ev.smi.pending;
		s->smm_inside_nmi = ev.smi.smm_inside_nmi;
		s->latched_init = ev.smi.latched_init;
	}
	if (ev.flags & KVM_VCPUEVENT_VALID_TRIPLE_FAULT)
		s->triple_fault = ev.triple_fault.pending;
	c->brk |= BRK_EVENT;
	return 0;
}

static int emu_get_mp_state(struct nv_vcpu *v, struct kvm_mp_state *m)
{
	struct cpu *c = CPU(v);
	/* as KVM (kvm_apic_accept_events): a latched INIT / SIPI is acted on first */
	if (c->init_pending || (c->sipi_pending && c->mp_state == KVM_MP_STATE_INIT_RECEIVED))
		cpu_accept_init_sipi(c);
	m->mp_state = c->mp_state;
	if (c->mp_state == KVM_MP_STATE_RUNNABLE && c->halted)
		m->mp_state = KVM_MP_STATE_HALTED;
	return 0;
}

static int emu_set_mp_state(struct nv_vcpu *v, const struct kvm_mp_state *m)
{
	struct cpu *c = CPU(v);
	switch (m->mp_state) {
	case KVM_MP_STATE_RUNNABLE:
		c->halted = false;
		break;
	case KVM_MP_STATE_HALTED:
		c->halted = true;
		break;
	case KVM_MP_STATE_UNINITIALIZED:
	case KVM_MP_STATE_INIT_RECEIVED:
		c->halted = false;
		break;
	case KVM_MP_STATE_SIPI_RECEIVED:
		/* KVM: becomes INIT_RECEIVED with the SIPI pending */
		c->mp_state = KVM_MP_STATE_INIT_RECEIVED;
		c->sipi_pending = true;
		return 0;
	default:
		return -EINVAL;
	}
	c->mp_state = m->mp_state == KVM_MP_STATE_HALTED ? KVM_MP_STATE_RUNNABLE : m->mp_state;
	if (m->mp_state == KVM_MP_STATE_HALTED)
		c->mp_state = KVM_MP_STATE_RUNNABLE;
	return 0;
}

static int emu_get_lapic(struct nv_vcpu *v, struct kvm_lapic_state *l)
{
	lapic_get_state(CPU(v), l);
	return 0;
}

static int emu_set_lapic(struct nv_vcpu *v, const struct kvm_lapic_state *l)
{
	return lapic_set_state(CPU(v), l);
}

static int emu_get_nested_state(struct nv_vcpu *v, struct kvm_nested_state *s)
{
	(void)v;
	(void)s;
	return -EINVAL;	/* as KVM without nested virtualization */
}

static int emu_set_nested_state(struct nv_vcpu *v, const struct kvm_nested_state *s)
{
	(void)v;
	(void)s;
	return -EINVAL;
}

/*
 * KVM_SET_CPUID2: the entries are kept as given (GET_CPUID2 returns them);
 * only the feature bits the CPU acts on and MAXPHYADDR are derived.  Once
 * the vCPU has run, KVM accepts only the CPUID it already has (-EINVAL
 * otherwise, kvm_cpuid_check_equal); dynamic bits (OSXSAVE, APIC ID, ...)
 * are not stored, so a GET_CPUID2 result always compares equal.
 */
static int emu_set_cpuid2(struct nv_vcpu *v, const struct kvm_cpuid2 *in)
{
	struct cpu *c = CPU(v);
	if (in->nent > CPUID_MAX_ENT)
		return -E2BIG;
	if (v->ran) {
		const struct cpu_model *cur = c->model;
		if ((int)in->nent != cur->nent)
			return -EINVAL;
		for (uint32_t k = 0; k < in->nent; k++) {
			const struct kvm_cpuid_entry2 *e = &in->entries[k];
			const struct cpuid_ent *o = &cur->ent[k];
			if (e->function != o->fn || e->index != o->idx || e->flags != o->flags ||
			    e->eax != o->eax || e->ebx != o->ebx || e->ecx != o->ecx ||
			    e->edx != o->edx)
				return -EINVAL;
		}
		return 0;
	}
	struct cpu_model *m = &c->model_own;
	struct cpu_model *tmp = malloc(sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	*m = *c->model;
	m->nent = 0;
	m->maxphyaddr = 36;
	for (uint32_t k = 0; k < in->nent; k++) {
		const struct kvm_cpuid_entry2 *e = &in->entries[k];
		m->ent[m->nent++] = (struct cpuid_ent){ e->function, e->index, e->flags,
							e->eax, e->ebx, e->ecx, e->edx };
		/* KVM: MAXPHYADDR from CPUID.80000008H:EAX[7:0], else 36 */
		if (e->function == 0x80000008 && (e->eax & 0xff))
			m->maxphyaddr = e->eax & 0xff;
	}
	*tmp = *m;
	cpuid_decode_features(tmp);
	m->feat = tmp->feat;
	free(tmp);
	c->model = m;
	return 0;
}

static int emu_get_cpuid2(struct nv_vcpu *v, struct kvm_cpuid2 *c)
{
	return cpuid_out(CPU(v)->model, c);
}

static int emu_interrupt(struct nv_vcpu *v, const struct kvm_interrupt *irq)
{
	struct cpu *c = CPU(v);
	if (irq->irq >= 256)
		return -EINVAL;
	if (c->extint_pending)
		return -EEXIST;
	c->extint_pending = true;
	c->extint_vector = (uint8_t)irq->irq;
	c->brk |= BRK_EVENT;
	return 0;
}

static int emu_nmi(struct nv_vcpu *v)
{
	struct cpu *c = CPU(v);
	if (c->evt.nmi_pending < ((c->evt.nmi_masked || c->evt.nmi_injected) ? 1 : 2))
		c->evt.nmi_pending++;
	return 0;
}

/*
 * KVM_SET_GUEST_DEBUG.  KVM ignores control bits it does not know; of the
 * x86 ones the emulator does single-step and INJECT_DB / INJECT_BP
 * (queued as KVM's kvm_queue_exception would, -EBUSY if an exception is
 * already queued) and refuses the breakpoint kinds it does not implement
 * (USE_SW_BP, USE_HW_BP, BLOCKIRQ: docs/kvm.md) rather than ignore them.
 */
static int emu_set_guest_debug(struct nv_vcpu *v, const struct kvm_guest_debug *d)
{
	struct cpu *c = CPU(v);
	uint32_t ctl = d->control;
	if (!(ctl & KVM_GUESTDBG_ENABLE))
		ctl = 0;
	if (ctl & (KVM_GUESTDBG_USE_SW_BP | KVM_GUESTDBG_USE_HW_BP | KVM_GUESTDBG_BLOCKIRQ))
		return -EINVAL;
	if (ctl & (KVM_GUESTDBG_INJECT_DB | KVM_GUESTDBG_INJECT_BP)) {
		if (c->evt.exc.pending || c->evt.exc.injected)
			return -EBUSY;
		evt_queue_exception(c, (ctl & KVM_GUESTDBG_INJECT_DB) ? EXC_DB : EXC_BP,
				    false, 0, false, 0);
	}
	c->guest_debug = ctl;
	c->guest_debug_ss = (ctl & KVM_GUESTDBG_SINGLESTEP) != 0;
	return 0;
}

/*
 * KVM_TRANSLATE walks as a supervisor read that sets no A/D bits, and
 * reports writeable = 1, usermode = 0 whatever the entries say: KVM's
 * kvm_arch_vcpu_ioctl_translate fills them in so, and a VMM must not rely
 * on them (docs/kvm.md).
 */
static int emu_translate(struct nv_vcpu *v, struct kvm_translation *t)
{
	struct cpu *c = CPU(v);
	struct walk w;
	if (mmu_translate(c, t->linear_address, ACC_R | ACC_NOSET | ACC_FORCE_SUP, &w)) {
		t->physical_address = w.gpa;
		t->valid = 1;
	} else {
		t->physical_address = ~0ULL;
		t->valid = 0;
	}
	t->writeable = 1;
	t->usermode = 0;
	return 0;
}

/* ---- private state (nestvm.h: struct nv_private_state) ------------------------ */

/* an I/O or EOI exit still owes the CPU an answer: state is mid-instruction */
static bool io_busy(const struct cpu *c)
{
	return c->io_in_pending || c->io_nresp || c->wq_pos < c->wq_n ||
	       c->eoi_exit_vector >= 0 || c->cur;
}

static int emu_get_private(struct nv_vcpu *v, struct nv_private_state *p)
{
	struct cpu *c = CPU(v);
	const struct evt_state *s = &c->evt;
	memset(p, 0, sizeof(*p));
	p->version = NV_PRIVATE_STATE_VERSION;
	p->size = sizeof(*p);
	p->clock = c->clock;
	p->icount = cpu_icount(c);
	p->budget_until = c->budget_end;
	p->tsc_offset = c->msr.tsc_offset;
	lapic_get_timer(c, &p->timer_deadline, &p->timer_period);
	p->pending_dbg = s->pending_dbg;
	if (c->extint_pending)
		p->flags |= NV_PRIV_EXTINT_PENDING;
	if (c->init_pending)
		p->flags |= NV_PRIV_INIT_PENDING;
	if (c->sipi_pending)
		p->flags |= NV_PRIV_SIPI_PENDING;
	if (c->mwait_armed) {
		p->flags |= NV_PRIV_MWAIT_ARMED;
		p->monitor_addr = c->monitor_addr;
		memcpy(p->monitor_line, c->monitor_line, sizeof(p->monitor_line));
	}
	if (c->mwait_wait && c->halted) {
		p->flags |= NV_PRIV_MWAIT_WAIT;
		if (c->mwait_break)
			p->flags |= NV_PRIV_MWAIT_BREAK;
	}
	p->pause_until = c->pause_until;
	lapic_get_private(c, p);
	if (s->exc.injected && s->exc.type != EVT_HW_EXC) {
		p->flags |= NV_PRIV_SOFT_EXC;
		p->exc_vector = s->exc.vector;
		p->exc_type = s->exc.type;
		p->exc_inst_len = s->exc.inst_len;
	}
	if (s->intr_injected && s->intr_soft) {
		p->flags |= NV_PRIV_SOFT_INTR;
		p->intr_inst_len = s->intr_inst_len;
	}
	if (s->exc_from_user)
		p->flags |= NV_PRIV_EXC_FROM_USER;
	if (io_busy(c))
		p->flags |= NV_PRIV_IO_BUSY;
	p->extint_vector = c->extint_pending ? c->extint_vector : 0;
	p->sipi_vector = c->sipi_vector;
	p->fpu_fcs = c->fpu.fcs;
	p->fpu_fds = c->fpu.fds;
	return 0;
}

static int emu_set_private(struct nv_vcpu *v, const struct nv_private_state *p)
{
	struct cpu *c = CPU(v);
	struct evt_state *s = &c->evt;
	const uint32_t known = NV_PRIV_EXTINT_PENDING | NV_PRIV_INIT_PENDING |
			       NV_PRIV_SIPI_PENDING | NV_PRIV_MWAIT_ARMED | NV_PRIV_SOFT_EXC |
			       NV_PRIV_SOFT_INTR | NV_PRIV_EXC_FROM_USER | NV_PRIV_MWAIT_WAIT |
			       NV_PRIV_MWAIT_BREAK;
	if (p->flags & ~known)
		return -EINVAL;
	/* MWAIT waits on an armed monitor; the break flag belongs to a wait */
	if (((p->flags & NV_PRIV_MWAIT_WAIT) && !(p->flags & NV_PRIV_MWAIT_ARMED)) ||
	    ((p->flags & NV_PRIV_MWAIT_BREAK) && !(p->flags & NV_PRIV_MWAIT_WAIT)))
		return -EINVAL;
	if (lapic_check_private(p) < 0)
		return -EINVAL;
	if (p->flags & NV_PRIV_SOFT_EXC) {
		bool ok = (p->exc_type == EVT_SOFT_EXC && (p->exc_vector == EXC_BP ||
							   p->exc_vector == EXC_OF)) ||
			  (p->exc_type == EVT_PRIV_SOFT_EXC && p->exc_vector == EXC_DB);
		if (!ok || !p->exc_inst_len || p->exc_inst_len > 15)
			return -EINVAL;
	} else if (p->exc_vector || p->exc_type || p->exc_inst_len) {
		return -EINVAL;
	}
	if ((p->flags & NV_PRIV_SOFT_INTR) ? (!p->intr_inst_len || p->intr_inst_len > 15)
					   : p->intr_inst_len)
		return -EINVAL;
	/* trap-like DR6 bits only: B0-B3, BS, BT (positive polarity) */
	if (p->pending_dbg & ~(DR6_B0_3 | DR6_BS | DR6_BT))
		return -EINVAL;
	if (io_busy(c))
		return -EBUSY;

	c->clock = p->clock;
	c->idle = p->clock - p->icount;
	c->budget_end = p->budget_until;
	c->msr.tsc_offset = p->tsc_offset;
	lapic_set_timer(c, p->timer_deadline, p->timer_period);
	s->pending_dbg = p->pending_dbg;
	c->extint_pending = p->flags & NV_PRIV_EXTINT_PENDING;
	c->extint_vector = c->extint_pending ? p->extint_vector : 0;
	c->init_pending = p->flags & NV_PRIV_INIT_PENDING;
	c->sipi_pending = p->flags & NV_PRIV_SIPI_PENDING;
	c->sipi_vector = p->sipi_vector;
	c->mwait_armed = p->flags & NV_PRIV_MWAIT_ARMED;
	c->monitor_addr = c->mwait_armed ? p->monitor_addr : 0;
	memcpy(c->monitor_line, p->monitor_line, sizeof(c->monitor_line));
	c->mwait_wait = p->flags & NV_PRIV_MWAIT_WAIT;
	c->mwait_break = p->flags & NV_PRIV_MWAIT_BREAK;
	c->pause_until = p->pause_until;
	lapic_set_private(c, p);
	if (p->flags & NV_PRIV_SOFT_EXC) {
		memset(&s->exc, 0, sizeof(s->exc));
		s->exc.injected = true;
		s->exc.vector = p->exc_vector;
		s->exc.type = p->exc_type;
		s->exc.inst_len = p->exc_inst_len;
	}
	if (p->flags & NV_PRIV_SOFT_INTR) {
		s->intr_injected = true;
		s->intr_soft = true;
		s->intr_inst_len = p->intr_inst_len;
	}
	s->exc_from_user = p->flags & NV_PRIV_EXC_FROM_USER;
	c->fpu.fcs = p->fpu_fcs;
	c->fpu.fds = p->fpu_fds;
	c->brk |= BRK_EVENT;
	return 0;
}

static int emu_get_vm_private(struct nv_vm *nv, struct nv_vm_private_state *p)
{
	memset(p, 0, sizeof(*p));
	p->version = NV_VM_PRIVATE_STATE_VERSION;
	p->size = sizeof(*p);
	p->rng_state = VM(nv)->rng_state;
	return 0;
}

static int emu_set_vm_private(struct nv_vm *nv, const struct nv_vm_private_state *p)
{
	VM(nv)->rng_state = p->rng_state;
	return 0;
}

const struct accel_ops accel_emu_ops = {
	.name = "tcg",
	.create_vm = emu_create_vm,
	.destroy_vm = emu_destroy_vm,
	.check_extension = emu_check_extension,
	.enable_cap = emu_enable_cap,
	.set_memory = emu_set_memory,
	.signal_msi = emu_signal_msi,
	.get_msr_index_list = emu_msr_list,
	.get_supported_cpuid = emu_supported_cpuid,
	.set_cpu_model = emu_set_cpu_model,
	.create_vcpu = emu_create_vcpu,
	.destroy_vcpu = emu_destroy_vcpu,
	.run = emu_run,
	.set_budget = emu_set_budget,
	.get_icount = emu_get_icount,
	.get_clock = emu_get_clock,
	.set_clock = emu_set_clock,
	.set_budget_until = emu_set_budget_until,
	.next_deadline = emu_next_deadline,
	.get_regs = emu_get_regs,
	.set_regs = emu_set_regs,
	.get_sregs = emu_get_sregs,
	.set_sregs = emu_set_sregs,
	.get_sregs2 = emu_get_sregs2,
	.set_sregs2 = emu_set_sregs2,
	.get_fpu = emu_get_fpu,
	.set_fpu = emu_set_fpu,
	.get_xsave = emu_get_xsave,
	.set_xsave = emu_set_xsave,
	.get_xcrs = emu_get_xcrs,
	.set_xcrs = emu_set_xcrs,
	.get_debugregs = emu_get_debugregs,
	.set_debugregs = emu_set_debugregs,
	.get_msrs = emu_get_msrs,
	.set_msrs = emu_set_msrs,
	.get_events = emu_get_events,
	.set_events = emu_set_events,
	.get_mp_state = emu_get_mp_state,
	.set_mp_state = emu_set_mp_state,
	.get_lapic = emu_get_lapic,
	.set_lapic = emu_set_lapic,
	.get_nested_state = emu_get_nested_state,
	.set_nested_state = emu_set_nested_state,
	.set_cpuid2 = emu_set_cpuid2,
	.get_cpuid2 = emu_get_cpuid2,
	.interrupt = emu_interrupt,
	.nmi = emu_nmi,
	.set_guest_debug = emu_set_guest_debug,
	.translate = emu_translate,
	.get_private = emu_get_private,
	.set_private = emu_set_private,
	.get_vm_private = emu_get_vm_private,
	.set_vm_private = emu_set_vm_private,
};

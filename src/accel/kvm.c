// SPDX-License-Identifier: MIT
/*
 * The /dev/kvm engine: the public API (include/nestvm/nestvm.h) as the KVM
 * ioctls it mirrors (Documentation/virt/kvm/api.rst).  Almost every call is
 * one ioctl; the engine adds only what the emulator engine provides
 * implicitly:
 *
 *  - a local APIC in every vCPU: the VM is created with KVM's split
 *    irqchip (KVM_CAP_SPLIT_IRQCHIP): in-kernel LAPICs, the PIC and IOAPIC
 *    stay in nestvm's VMM (MSIs through KVM_SIGNAL_MSI, level-triggered
 *    EOIs as KVM_EXIT_IOAPIC_EOI), exactly the emulator's model;
 *  - the CPU model: each vCPU gets the selected model's CPUID (-cpu)
 *    intersected with KVM_GET_SUPPORTED_CPUID (cpuid_for_kvm below), with
 *    its APIC ID filled in;
 *  - capability probing: KVM_CHECK_EXTENSION on the VM for every
 *    capability the VMM relies on, with a one-line message naming what is
 *    missing.
 *
 * The emulator's extensions (instruction budget, virtual clock, icount,
 * timer deadline) have no KVM equivalent and report -ENOTSUP (NULL slots,
 * see api.c).  A VMM bounds a KVM_RUN with a signal and kvm_run's
 * immediate_exit instead (docs/kvm.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "accel.h"
#include "../cpu/cpu.h"

/* IOAPIC pins the VMM's IOAPIC routes (KVM_CAP_SPLIT_IRQCHIP args[0]) */
#define KVM_IOAPIC_PINS 24
#define KVM_CPUID_MAX 256

struct kvm_vm {
	int sys_fd;		/* /dev/kvm */
	int vm_fd;
	int run_size;		/* KVM_GET_VCPU_MMAP_SIZE */
	struct cpu_model model;	/* the selected CPU model (-cpu) */
	struct kvm_cpuid2 *host;	/* KVM_GET_SUPPORTED_CPUID */
	uint32_t tsc_khz;	/* KVM_GET_TSC_KHZ of a vCPU, 0 = unknown */
	int nvcpus;
	/* level-triggered MSIs seen, as routes for the EOI exit bitmap */
	struct kvm_irq_routing_msi level[KVM_IOAPIC_PINS];
	int nlevel, next_level;
};

struct kvm_vcpu {
	int fd;
	struct kvm_run *run;
	int run_size;
	bool cpuid_user;	/* KVM_SET_CPUID2 called by the user */
	int cpuid_nvcpus;	/* vCPU count the model CPUID was built for */
	bool ran;
};

static struct kvm_vm *KVM(struct nv_vm *vm)
{
	return vm->impl;
}

static struct kvm_vcpu *KVCPU(struct nv_vcpu *v)
{
	return v->impl;
}

/* an ioctl as the API reports it: the result, or -errno */
static int xioctl(int fd, unsigned long req, void *arg)
{
	int r = ioctl(fd, req, arg);
	return r < 0 ? -errno : r;
}

/*
 * What nestvm's VMM needs from /dev/kvm.  Anything else (XSAVE, SREGS2,
 * payloads, nested state, ...) is optional: its ioctl answers as KVM does.
 */
static const struct {
	long cap;
	const char *name;
} kvm_required[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_SPLIT_IRQCHIP, "KVM_CAP_SPLIT_IRQCHIP" },
	{ KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
	{ KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS" },
};

static void kvm_close(struct kvm_vm *k)
{
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->sys_fd >= 0)
		close(k->sys_fd);
	free(k->host);
	free(k);
}

static int kvm_create_vm(struct nv_vm *vm)
{
	struct kvm_vm *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->vm_fd = -1;
	k->sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->sys_fd < 0) {
		int e = errno;
		nv_set_error("cannot use KVM: /dev/kvm: %s", strerror(e));
		free(k);
		return -e;
	}
	int api = ioctl(k->sys_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		nv_set_error("cannot use KVM: /dev/kvm has API version %d, nestvm needs %d",
			     api, KVM_API_VERSION);
		kvm_close(k);
		return -ENOTSUP;
	}
	k->vm_fd = ioctl(k->sys_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0) {
		int e = errno;
		nv_set_error("cannot use KVM: KVM_CREATE_VM: %s", strerror(e));
		kvm_close(k);
		return -e;
	}
	for (size_t n = 0; n < sizeof(kvm_required) / sizeof(kvm_required[0]); n++) {
		if (ioctl(k->vm_fd, KVM_CHECK_EXTENSION, kvm_required[n].cap) <= 0) {
			nv_set_error("cannot use KVM: /dev/kvm lacks %s", kvm_required[n].name);
			kvm_close(k);
			return -ENOTSUP;
		}
	}
	k->run_size = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->run_size < (int)sizeof(struct kvm_run)) {
		nv_set_error("cannot use KVM: bad KVM_GET_VCPU_MMAP_SIZE");
		kvm_close(k);
		return -ENOTSUP;
	}
	/* the local APICs in the kernel, PIC and IOAPIC in the VMM (see top) */
	struct kvm_enable_cap split = { .cap = KVM_CAP_SPLIT_IRQCHIP,
					.args = { KVM_IOAPIC_PINS } };
	if (ioctl(k->vm_fd, KVM_ENABLE_CAP, &split) < 0) {
		int e = errno;
		nv_set_error("cannot use KVM: enabling KVM_CAP_SPLIT_IRQCHIP: %s", strerror(e));
		kvm_close(k);
		return -e;
	}
	k->host = calloc(1, sizeof(*k->host) + KVM_CPUID_MAX * sizeof(struct kvm_cpuid_entry2));
	if (!k->host) {
		kvm_close(k);
		return -ENOMEM;
	}
	k->host->nent = KVM_CPUID_MAX;
	if (ioctl(k->sys_fd, KVM_GET_SUPPORTED_CPUID, k->host) < 0) {
		int e = errno;
		nv_set_error("cannot use KVM: KVM_GET_SUPPORTED_CPUID: %s", strerror(e));
		kvm_close(k);
		return -e;
	}
	char err[160];
	if (cpuid_model_init(&k->model, "intel", err, sizeof(err)) < 0) {
		kvm_close(k);
		return -EINVAL;
	}
	vm->impl = k;
	return 0;
}

static void kvm_destroy_vm(struct nv_vm *vm)
{
	kvm_close(KVM(vm));
}

static int kvm_check_extension(struct nv_vm *vm, long cap)
{
	struct kvm_vm *k = KVM(vm);
	if (cap == -1 || cap == NV_CAP_STRICT_SDM)
		return 0;	/* the internal number itself, or nestvm's own */
	if (cap == NV_CAP_NESTED_FLAG)
		cap = vm->nested_flag_cap;	/* the host's own number for it */
	int r = ioctl(k->vm_fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

static int kvm_enable_cap(struct nv_vm *vm, const struct kvm_enable_cap *cap)
{
	struct kvm_enable_cap c = *cap;
	/* enabled at creation: the engine's LAPIC model (as the emulator's) */
	if (c.cap == KVM_CAP_SPLIT_IRQCHIP)
		return 0;
	if (c.cap == NV_CAP_STRICT_SDM)
		return -EINVAL;		/* KVM is what it is */
	if (c.cap == NV_CAP_NESTED_FLAG)
		c.cap = vm->nested_flag_cap;
	return xioctl(KVM(vm)->vm_fd, KVM_ENABLE_CAP, &c);
}

static int kvm_set_memory(struct nv_vm *vm, const struct kvm_userspace_memory_region *r)
{
	return xioctl(KVM(vm)->vm_fd, KVM_SET_USER_MEMORY_REGION, (void *)r);
}

/*
 * With a split irqchip KVM exits with KVM_EXIT_IOAPIC_EOI only for vectors
 * its IOAPIC routes (GSIs below the reserved pin count) mark level
 * triggered (kvm_scan_ioapic_routes); the emulator's LAPIC reports the EOI
 * of any level-triggered vector.  So every level-triggered MSI the VMM
 * sends becomes such a route, the oldest replaced when all are used.
 */
static int note_level_msi(struct kvm_vm *k, const struct kvm_msi *msi)
{
	struct kvm_irq_routing_msi key = {
		.address_lo = msi->address_lo,
		.address_hi = msi->address_hi,
		.data = msi->data & ~(1u << 14),	/* the level (assert) bit varies */
	};
	for (int n = 0; n < k->nlevel; n++)
		if (!memcmp(&k->level[n], &key, sizeof(key)))
			return 0;
	int slot = k->nlevel < KVM_IOAPIC_PINS ? k->nlevel++ : k->next_level;
	k->next_level = (slot + 1) % KVM_IOAPIC_PINS;
	k->level[slot] = key;
	struct kvm_irq_routing *r = calloc(1, sizeof(*r) + KVM_IOAPIC_PINS * sizeof(r->entries[0]));
	if (!r)
		return -ENOMEM;
	for (int n = 0; n < k->nlevel; n++) {
		r->entries[n].gsi = (uint32_t)n;
		r->entries[n].type = KVM_IRQ_ROUTING_MSI;
		r->entries[n].u.msi = k->level[n];
	}
	r->nr = (uint32_t)k->nlevel;
	int ret = xioctl(k->vm_fd, KVM_SET_GSI_ROUTING, r);
	free(r);
	return ret < 0 ? ret : 0;
}

static int kvm_signal_msi(struct nv_vm *vm, const struct kvm_msi *msi)
{
	struct kvm_vm *k = KVM(vm);
	if (!(msi->flags & ~KVM_MSI_VALID_DEVID) && (msi->data & (1u << 15))) {
		int r = note_level_msi(k, msi);
		if (r < 0)
			return r;
	}
	return xioctl(k->vm_fd, KVM_SIGNAL_MSI, (void *)msi);
}

static int kvm_msr_list(struct nv_vm *vm, struct kvm_msr_list *l)
{
	return xioctl(KVM(vm)->sys_fd, KVM_GET_MSR_INDEX_LIST, l);
}

/* ---- CPUID: the model within what KVM supports --------------------------------- */

static const struct kvm_cpuid_entry2 *host_leaf(const struct kvm_vm *k, uint32_t fn,
						  uint32_t idx)
{
	for (uint32_t n = 0; n < k->host->nent; n++) {
		const struct kvm_cpuid_entry2 *e = &k->host->entries[n];
		if (e->function != fn)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != idx)
			continue;
		return e;
	}
	return NULL;
}

/*
 * Which registers of a leaf are feature bits (kept only where KVM can
 * virtualize them: AND with the host) rather than identification, cache
 * or topology data (the model's).  Mask per register: eax, ebx, ecx, edx.
 */
static void feature_regs(uint32_t fn, uint32_t idx, bool f[4])
{
	f[0] = f[1] = f[2] = f[3] = false;
	switch (fn) {
	case 1:
		f[2] = f[3] = true;
		break;
	case 6:
		f[0] = true;		/* ARAT and friends */
		break;
	case 7:
		if (idx == 0)
			f[1] = f[2] = f[3] = true;
		else if (idx == 1)
			f[0] = f[3] = true;
		break;
	case 0xa:			/* PMU: only what KVM exposes */
		f[0] = f[1] = f[2] = f[3] = true;
		break;
	case 0xd:
		if (idx == 0)
			f[0] = f[3] = true;	/* XCR0 components */
		else if (idx == 1)
			f[0] = f[2] = f[3] = true;
		break;
	case 0x80000001:
		f[2] = f[3] = true;
		break;
	case 0x80000007:
		f[3] = true;		/* invariant TSC */
		break;
	case 0x80000008:
		f[1] = true;		/* CLZERO, IBPB, ... */
		break;
	}
}

static struct kvm_cpuid_entry2 *ent_find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t n = 0; n < c->nent; n++)
		if (c->entries[n].function == fn && c->entries[n].index == idx)
			return &c->entries[n];
	return NULL;
}

/*
 * The CPUID a vCPU gets on KVM: the model's leaves, feature bits limited to
 * KVM_GET_SUPPORTED_CPUID, XSAVE layout leaves from the host (the standard
 * XSAVE format's offsets are the host CPU's: XSAVE runs natively), physical
 * address width no wider than the host's, TSC frequency leaves from
 * KVM_GET_TSC_KHZ, and the vCPU's APIC ID (KVM does not fill it in).
 * Returns the number of entries written (max `max`).
 */
static int cpuid_for_kvm(const struct kvm_vm *k, unsigned int apic_id, int nvcpus,
			 struct kvm_cpuid2 *out, int max)
{
	const struct cpu_model *m = &k->model;
	out->nent = 0;
	for (int n = 0; n < m->nent && (int)out->nent < max; n++) {
		const struct cpuid_ent *me = &m->ent[n];
		if (me->fn == 0xd && me->idx >= 2)
			continue;	/* rebuilt from the host below */
		struct kvm_cpuid_entry2 *e = &out->entries[out->nent++];
		memset(e, 0, sizeof(*e));
		e->function = me->fn;
		e->index = me->idx;
		e->flags = me->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e->eax = me->eax;
		e->ebx = me->ebx;
		e->ecx = me->ecx;
		e->edx = me->edx;
		bool f[4];
		feature_regs(me->fn, me->idx, f);
		const struct kvm_cpuid_entry2 *h = host_leaf(k, me->fn, me->idx);
		uint32_t hr[4] = { 0, 0, 0, 0 };
		if (h) {
			hr[0] = h->eax;
			hr[1] = h->ebx;
			hr[2] = h->ecx;
			hr[3] = h->edx;
		}
		uint32_t *r = &e->eax;
		for (int q = 0; q < 4; q++)
			if (f[q])
				r[q] &= hr[q];
		if (me->fn == 0xa) {
			/* the PMU version is a number, not a mask: take KVM's leaf */
			e->eax = hr[0];
			e->ebx = hr[1];
			e->ecx = hr[2];
			e->edx = hr[3];
		}
	}
	struct kvm_cpuid_entry2 *e1 = ent_find(out, 1, 0);
	if (e1) {
		e1->ebx = (e1->ebx & 0x0000ffffu) | (apic_id << 24) |
			  ((uint32_t)(nvcpus > 1 ? nvcpus : 1) << 16);
		e1->ecx &= ~(1u << 27);	/* OSXSAVE: KVM keeps it in step with CR4 */
	}
	for (uint32_t idx = 0; idx < 2; idx++) {
		struct kvm_cpuid_entry2 *eb = ent_find(out, 0xb, idx);
		if (eb) {
			eb->edx = apic_id;
			if (idx == 1)
				eb->ebx = (uint32_t)(nvcpus > 0 ? nvcpus : 1);
		}
	}
	/* XSAVE: components both sides have, sizes and offsets from the host */
	struct kvm_cpuid_entry2 *d0 = ent_find(out, 0xd, 0);
	bool xsave = e1 && (e1->ecx & (1u << 26));
	if (d0) {
		uint64_t comps = xsave ? (d0->eax | ((uint64_t)d0->edx << 32)) : 0;
		uint32_t size = 0x240;
		for (int c = 2; c < 63; c++) {
			if (!(comps & (1ULL << c)))
				continue;
			const struct kvm_cpuid_entry2 *h = host_leaf(k, 0xd, (uint32_t)c);
			if (!h || !h->eax) {
				comps &= ~(1ULL << c);
				continue;
			}
			if (h->eax + h->ebx > size)
				size = h->eax + h->ebx;
			if ((int)out->nent < max) {
				struct kvm_cpuid_entry2 *x = &out->entries[out->nent++];
				*x = *h;
				x->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
				x->index = (uint32_t)c;
			}
		}
		d0->eax = (uint32_t)comps;
		d0->edx = (uint32_t)(comps >> 32);
		d0->ebx = 0x240;	/* KVM recomputes it from XCR0 */
		d0->ecx = size;
	}
	struct kvm_cpuid_entry2 *a8 = ent_find(out, 0x80000008, 0);
	const struct kvm_cpuid_entry2 *h8 = host_leaf(k, 0x80000008, 0);
	if (a8 && h8 && (a8->eax & 0xff) > (h8->eax & 0xff))
		a8->eax = (a8->eax & ~0xffu) | (h8->eax & 0xff);
	if (k->tsc_khz) {
		struct kvm_cpuid_entry2 *t = ent_find(out, 0x15, 0);
		if (t) {
			t->eax = 1;
			t->ebx = 1;
			t->ecx = k->tsc_khz * 1000u;
		}
		t = ent_find(out, 0x16, 0);
		if (t) {
			t->eax = k->tsc_khz / 1000u;
			t->ebx = k->tsc_khz / 1000u;
		}
	}
	return (int)out->nent;
}

/*
 * KVM_GET_SUPPORTED_CPUID for the selected model.  KVM's own ioctl leaves
 * nent unchanged when the array is too small (-E2BIG); so does this.
 */
static int kvm_supported_cpuid(struct nv_vm *vm, struct kvm_cpuid2 *c)
{
	struct kvm_vm *k = KVM(vm);
	struct kvm_cpuid2 *tmp = calloc(1, sizeof(*tmp) + KVM_CPUID_MAX * sizeof(tmp->entries[0]));
	if (!tmp)
		return -ENOMEM;
	int n = cpuid_for_kvm(k, 0, 1, tmp, KVM_CPUID_MAX);
	int r = 0;
	if (c->nent < (uint32_t)n) {
		r = -E2BIG;
	} else {
		memcpy(c->entries, tmp->entries, (size_t)n * sizeof(c->entries[0]));
		c->nent = (uint32_t)n;
	}
	free(tmp);
	return r;
}

static int kvm_set_cpu_model(struct nv_vm *vm, const char *spec)
{
	struct kvm_vm *k = KVM(vm);
	char err[200];
	struct cpu_model m;
	if (k->nvcpus) {
		nv_set_error("the CPU model must be set before vCPUs are created");
		return -EBUSY;
	}
	if (cpuid_model_init(&m, spec, err, sizeof(err)) < 0) {
		nv_set_error("%s", err);
		return -EINVAL;
	}
	k->model = m;
	return 0;
}

/* give vCPU v the model's CPUID, built for the current number of vCPUs */
static int vcpu_apply_model(struct nv_vcpu *v)
{
	struct kvm_vm *k = KVM(v->vm);
	struct kvm_vcpu *kv = KVCPU(v);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + KVM_CPUID_MAX * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	cpuid_for_kvm(k, v->id, k->nvcpus, c, KVM_CPUID_MAX);
	int r = xioctl(kv->fd, KVM_SET_CPUID2, c);
	free(c);
	if (r == 0)
		kv->cpuid_nvcpus = k->nvcpus;
	return r;
}

/* ---- vCPUs ------------------------------------------------------------------------ */

static int kvm_create_vcpu(struct nv_vcpu *v)
{
	struct kvm_vm *k = KVM(v->vm);
	struct kvm_vcpu *kv = calloc(1, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	kv->fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->id);
	if (kv->fd < 0) {
		int e = errno;
		free(kv);
		return -e;
	}
	kv->run_size = k->run_size;
	kv->run = mmap(NULL, (size_t)kv->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, kv->fd, 0);
	if (kv->run == MAP_FAILED) {
		int e = errno;
		close(kv->fd);
		free(kv);
		return -e;
	}
	if (!k->tsc_khz) {
		int khz = ioctl(kv->fd, KVM_GET_TSC_KHZ, 0);
		if (khz > 0)
			k->tsc_khz = (uint32_t)khz;
	}
	v->impl = kv;
	v->run = kv->run;
	k->nvcpus++;
	int r = vcpu_apply_model(v);
	if (r < 0) {
		nv_set_error("KVM_SET_CPUID2 for the CPU model failed: %s", strerror(-r));
		k->nvcpus--;
		munmap(kv->run, (size_t)kv->run_size);
		close(kv->fd);
		free(kv);
		v->impl = NULL;
		return r;
	}
	/*
	 * KVM reset the vCPU before it had a CPUID, so EDX holds its default
	 * 0x600; a processor resets with its signature there (SDM Vol. 3A
	 * 10.1.2), as the emulator's vCPUs do.
	 */
	struct kvm_regs regs;
	const struct kvm_cpuid_entry2 *e1 = NULL;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + KVM_CPUID_MAX * sizeof(c->entries[0]));
	if (c) {
		cpuid_for_kvm(k, v->id, k->nvcpus, c, KVM_CPUID_MAX);
		e1 = ent_find(c, 1, 0);
		if (e1 && ioctl(kv->fd, KVM_GET_REGS, &regs) == 0) {
			regs.rdx = e1->eax;
			ioctl(kv->fd, KVM_SET_REGS, &regs);
		}
		free(c);
	}
	return 0;
}

static void kvm_destroy_vcpu(struct nv_vcpu *v)
{
	struct kvm_vcpu *kv = KVCPU(v);
	if (!kv)
		return;
	munmap(kv->run, (size_t)kv->run_size);
	close(kv->fd);
	free(kv);
}

static int kvm_run(struct nv_vcpu *v)
{
	struct kvm_vcpu *kv = KVCPU(v);
	struct kvm_vm *k = KVM(v->vm);
	/*
	 * The model's CPUID counts the vCPUs (leaf 1 EBX[23:16], leaf 0xb):
	 * vCPUs created after this one change it.  KVM refuses a different
	 * CPUID after the first KVM_RUN, so settle it now.
	 */
	if (!kv->ran && !kv->cpuid_user && kv->cpuid_nvcpus != k->nvcpus)
		vcpu_apply_model(v);
	kv->ran = true;
	int r = ioctl(kv->fd, KVM_RUN, 0);
	if (r < 0)
		return -errno;
	return r;
}

#define KIOC(name, req, type) \
	static int name(struct nv_vcpu *v, type arg) \
	{ \
		return xioctl(KVCPU(v)->fd, req, (void *)arg); \
	}

KIOC(kvm_get_regs, KVM_GET_REGS, struct kvm_regs *)
KIOC(kvm_set_regs, KVM_SET_REGS, const struct kvm_regs *)
KIOC(kvm_get_sregs, KVM_GET_SREGS, struct kvm_sregs *)
KIOC(kvm_set_sregs, KVM_SET_SREGS, const struct kvm_sregs *)
KIOC(kvm_get_sregs2, KVM_GET_SREGS2, struct kvm_sregs2 *)
KIOC(kvm_set_sregs2, KVM_SET_SREGS2, const struct kvm_sregs2 *)
KIOC(kvm_get_fpu, KVM_GET_FPU, struct kvm_fpu *)
KIOC(kvm_set_fpu, KVM_SET_FPU, const struct kvm_fpu *)
KIOC(kvm_get_xsave, KVM_GET_XSAVE, struct kvm_xsave *)
KIOC(kvm_set_xsave, KVM_SET_XSAVE, const struct kvm_xsave *)
KIOC(kvm_get_xcrs, KVM_GET_XCRS, struct kvm_xcrs *)
KIOC(kvm_set_xcrs, KVM_SET_XCRS, const struct kvm_xcrs *)
KIOC(kvm_get_debugregs, KVM_GET_DEBUGREGS, struct kvm_debugregs *)
KIOC(kvm_set_debugregs, KVM_SET_DEBUGREGS, const struct kvm_debugregs *)
KIOC(kvm_get_msrs, KVM_GET_MSRS, struct kvm_msrs *)
KIOC(kvm_set_msrs, KVM_SET_MSRS, const struct kvm_msrs *)
KIOC(kvm_get_events, KVM_GET_VCPU_EVENTS, struct kvm_vcpu_events *)
KIOC(kvm_set_events, KVM_SET_VCPU_EVENTS, const struct kvm_vcpu_events *)
KIOC(kvm_get_mp_state, KVM_GET_MP_STATE, struct kvm_mp_state *)
KIOC(kvm_set_mp_state, KVM_SET_MP_STATE, const struct kvm_mp_state *)
KIOC(kvm_get_lapic, KVM_GET_LAPIC, struct kvm_lapic_state *)
KIOC(kvm_set_lapic, KVM_SET_LAPIC, const struct kvm_lapic_state *)
KIOC(kvm_get_nested_state, KVM_GET_NESTED_STATE, struct kvm_nested_state *)
KIOC(kvm_set_nested_state, KVM_SET_NESTED_STATE, const struct kvm_nested_state *)
KIOC(kvm_get_cpuid2, KVM_GET_CPUID2, struct kvm_cpuid2 *)
KIOC(kvm_interrupt, KVM_INTERRUPT, const struct kvm_interrupt *)
KIOC(kvm_set_guest_debug, KVM_SET_GUEST_DEBUG, const struct kvm_guest_debug *)
KIOC(kvm_translate, KVM_TRANSLATE, struct kvm_translation *)

static int kvm_set_cpuid2(struct nv_vcpu *v, const struct kvm_cpuid2 *c)
{
	int r = xioctl(KVCPU(v)->fd, KVM_SET_CPUID2, (void *)c);
	if (r == 0)
		KVCPU(v)->cpuid_user = true;
	return r;
}

static int kvm_nmi(struct nv_vcpu *v)
{
	return xioctl(KVCPU(v)->fd, KVM_NMI, NULL);
}

const struct accel_ops accel_kvm_ops = {
	.name = "kvm",
	.create_vm = kvm_create_vm,
	.destroy_vm = kvm_destroy_vm,
	.check_extension = kvm_check_extension,
	.enable_cap = kvm_enable_cap,
	.set_memory = kvm_set_memory,
	.signal_msi = kvm_signal_msi,
	.get_msr_index_list = kvm_msr_list,
	.get_supported_cpuid = kvm_supported_cpuid,
	.set_cpu_model = kvm_set_cpu_model,
	.create_vcpu = kvm_create_vcpu,
	.destroy_vcpu = kvm_destroy_vcpu,
	.run = kvm_run,
	/* budget, icount, clock, deadline: emulator only (-ENOTSUP) */
	.get_regs = kvm_get_regs,
	.set_regs = kvm_set_regs,
	.get_sregs = kvm_get_sregs,
	.set_sregs = kvm_set_sregs,
	.get_sregs2 = kvm_get_sregs2,
	.set_sregs2 = kvm_set_sregs2,
	.get_fpu = kvm_get_fpu,
	.set_fpu = kvm_set_fpu,
	.get_xsave = kvm_get_xsave,
	.set_xsave = kvm_set_xsave,
	.get_xcrs = kvm_get_xcrs,
	.set_xcrs = kvm_set_xcrs,
	.get_debugregs = kvm_get_debugregs,
	.set_debugregs = kvm_set_debugregs,
	.get_msrs = kvm_get_msrs,
	.set_msrs = kvm_set_msrs,
	.get_events = kvm_get_events,
	.set_events = kvm_set_events,
	.get_mp_state = kvm_get_mp_state,
	.set_mp_state = kvm_set_mp_state,
	.get_lapic = kvm_get_lapic,
	.set_lapic = kvm_set_lapic,
	.get_nested_state = kvm_get_nested_state,
	.set_nested_state = kvm_set_nested_state,
	.set_cpuid2 = kvm_set_cpuid2,
	.get_cpuid2 = kvm_get_cpuid2,
	.interrupt = kvm_interrupt,
	.nmi = kvm_nmi,
	.set_guest_debug = kvm_set_guest_debug,
	.translate = kvm_translate,
};

/*
 * API suite: interrupts — KVM_INTERRUPT (ExtINT from the VMM's PIC),
 * KVM_NMI, KVM_SIGNAL_MSI (edge and level, with KVM_EXIT_IOAPIC_EOI), the
 * local APIC state (GET/SET_LAPIC), its timer, INIT/SIPI between two vCPUs
 * and mp_state — on the emulator and on /dev/kvm.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmt.h"

#define X(v) ((unsigned long long)(v))
#define APIC 0xfee00000ULL
#define HANDLER 0x8800ULL	/* an EOI-ing handler */

static uint32_t apic_reg(const struct kvm_lapic_state *l, int off)
{
	uint32_t v;
	memcpy(&v, l->regs + off, 4);
	return v;
}

static void set_gate(struct vmt *t, int vec, uint64_t h)
{
	uint64_t lo = (h & 0xffff) | (0x08ULL << 16) | (0x8eULL << 40) |
		      ((h >> 16 & 0xffff) << 48);
	uint64_t hi = h >> 32;
	vmt_write(t, VMT_IDT + vec * 16, &lo, 8);
	vmt_write(t, VMT_IDT + vec * 16 + 8, &hi, 8);
}

static void start(struct vmt *t, const uint8_t *code, size_t n, uint64_t rflags)
{
	vmt_write(t, VMT_CODE, code, n);
	uint32_t zero = 0;
	vmt_write(t, VMT_EXC_VEC, &zero, 4);
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	r.rip = VMT_CODE;
	r.rsp = VMT_STACK;
	r.rflags = rflags;
	nv_set_regs(t->v, &r);
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	nv_set_mp_state(t->v, &mp);
}

/* run until the vCPU halts (or exits with something other than port I/O) */
static int run_to_halt(struct vmt *t)
{
	for (int k = 0; k < 10000; k++) {
		int r = vmt_nv_run(t);
		if (r == -EINTR)
			return KVM_EXIT_HLT;
		if (r < 0)
			return -1;
		if (t->run->exit_reason != KVM_EXIT_IO)
			return (int)t->run->exit_reason;
	}
	return -1;
}

/* software-enable the local APIC (SVR bit 8), as a guest's set-up does */
static void apic_enable(struct nv_vcpu *v)
{
	struct kvm_lapic_state l;
	nv_get_lapic(v, &l);
	uint32_t svr = 0x1ff;
	memcpy(l.regs + 0xf0, &svr, 4);
	nv_set_lapic(v, &l);
}

static void test_lapic_state(struct vmt *t)
{
	struct kvm_lapic_state l;
	tap_ok(nv_get_lapic(t->v, &l) == 0, "GET_LAPIC");
	tap_ok(apic_reg(&l, 0x20) == 0, "APIC ID register of vCPU 0 = 0 (%x)", apic_reg(&l, 0x20));
	uint32_t ver = apic_reg(&l, 0x30);
	tap_ok((ver & 0xff) >= 0x10 && ((ver >> 16) & 0xff) >= 5,
	       "version register: integrated APIC, at least 6 LVTs (%x)", ver);
	tap_diag("reset LAPIC: SVR %x LVT0 %x LVT1 %x LVT timer %x", apic_reg(&l, 0xf0),
		 apic_reg(&l, 0x350), apic_reg(&l, 0x360), apic_reg(&l, 0x320));
	tap_ok((apic_reg(&l, 0x350) & 0x10700) == 0x700,
	       "vCPU 0's LVT0 is ExtINT, unmasked: the PIC is wired (KVM's LINT0 quirk) (%x)",
	       apic_reg(&l, 0x350));
	/* TPR through SET_LAPIC is CR8 in the guest */
	uint32_t tpr = 0x20;
	memcpy(l.regs + 0x80, &tpr, 4);
	tap_ok(nv_set_lapic(t->v, &l) == 0, "SET_LAPIC with TPR = 0x20");
	struct kvm_sregs s;
	nv_get_sregs(t->v, &s);
	tap_ok(s.cr8 == 2, "CR8 = 2 (%llx)", X(s.cr8));
	static const uint8_t code[] = { 0x44, 0x0f, 0x20, 0xc0, 0xf4 };	/* mov %cr8, %rax */
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	vmt_write(t, VMT_CODE, code, sizeof(code));
	vmt_run(t, VMT_CODE, &r);
	tap_ok(r.rax == 2, "the guest reads CR8 = 2 (%llx)", X(r.rax));
	tpr = 0;
	memcpy(l.regs + 0x80, &tpr, 4);
	nv_set_lapic(t->v, &l);
	/* software-disabled (SVR bit 8 clear at reset): a fixed MSI is refused */
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = 0x41 };
	tap_ok(nv_signal_msi(t->vm, &msi) == 0,
	       "MSI to a software-disabled LAPIC: accepted by none (0)");
	apic_enable(t->v);
	nv_get_lapic(t->v, &l);
	tap_ok(apic_reg(&l, 0xf0) == 0x1ff, "SVR = 1ff through SET_LAPIC (%x)", apic_reg(&l, 0xf0));
}

static void test_extint(struct vmt *t)
{
	static const uint8_t wait[] = { 0xfb, 0x90, 0xf4, 0xeb, 0xfd };	/* sti; nop; hlt; jmp */
	start(t, wait, sizeof(wait), 2);
	struct kvm_interrupt irq = { .irq = 0x30 };
	tap_ok(nv_interrupt(t->v, &irq) == 0, "KVM_INTERRUPT 0x30");
	irq.irq = 0x31;
	tap_ok(nv_interrupt(t->v, &irq) == -EEXIST, "a second one before it is taken: -EEXIST");
	irq.irq = 256;
	tap_ok(nv_interrupt(t->v, &irq) == -EINVAL, "KVM_INTERRUPT 256: -EINVAL");
	run_to_halt(t);
	tap_ok(vmt_exception(t) == 0x30, "the guest takes vector 0x30 once IF = 1 (%d)",
	       vmt_exception(t));
	irq.irq = 0x32;
	tap_ok(nv_interrupt(t->v, &irq) == 0, "KVM_INTERRUPT 0x32 again after delivery");
	/* IF = 0 in the stub's HLT: the vector waits */
	uint32_t zero = 0;
	vmt_write(t, VMT_EXC_VEC, &zero, 4);
	vmt_nv_run(t);
	tap_ok(vmt_exception(t) == -1, "not delivered while IF = 0 (%d)", vmt_exception(t));
	start(t, wait, sizeof(wait), 2);
	run_to_halt(t);
	tap_ok(vmt_exception(t) == 0x32, "delivered after STI (%d)", vmt_exception(t));
}

static void test_nmi(struct vmt *t)
{
	static const uint8_t wait[] = { 0xfa, 0x90, 0xf4, 0xeb, 0xfd };	/* cli; nop; hlt */
	start(t, wait, sizeof(wait), 2);
	struct kvm_vcpu_events ev;
	nv_get_vcpu_events(t->v, &ev);
	ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
	ev.nmi.masked = 0;
	ev.nmi.pending = 0;
	nv_set_vcpu_events(t->v, &ev);
	for (int k = 0; k < 3; k++)
		nv_nmi(t->v);
	nv_get_vcpu_events(t->v, &ev);
	tap_ok(ev.nmi.pending == 2, "three KVM_NMIs: 2 pending (%u)", ev.nmi.pending);
	run_to_halt(t);
	nv_get_vcpu_events(t->v, &ev);
	tap_ok(vmt_exception(t) == 2 && ev.nmi.masked && ev.nmi.pending == 1,
	       "one NMI taken with IF = 0; NMIs masked, one still pending (%d, %u, %u)",
	       vmt_exception(t), ev.nmi.masked, ev.nmi.pending);
}

static void test_msi(struct vmt *t)
{
	static const uint8_t wait[] = { 0xfb, 0x90, 0xf4, 0xeb, 0xfd };
	start(t, wait, sizeof(wait), 2);
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = 0x41 };
	int r = nv_signal_msi(t->vm, &msi);
	tap_ok(r == 1, "KVM_SIGNAL_MSI fixed 0x41 to APIC 0: delivered to 1 (%d)", r);
	run_to_halt(t);
	tap_ok(vmt_exception(t) == 0x41, "the guest takes vector 0x41 (%d)", vmt_exception(t));
	struct kvm_msi bad = msi;
	bad.flags = 2;
	tap_ok(nv_signal_msi(t->vm, &bad) == -EINVAL, "KVM_SIGNAL_MSI with flags 2: -EINVAL");
	bad = msi;
	bad.address_lo = 0xfee00000 | (9 << 12);	/* APIC ID 9: nobody */
	r = nv_signal_msi(t->vm, &bad);
	tap_diag("MSI to an absent APIC ID returns %d", r);
	tap_ok(r <= 0, "MSI to an absent APIC ID is not delivered (%d)", r);

	/*
	 * Level-triggered: the EOI reaches the VMM as KVM_EXIT_IOAPIC_EOI.
	 * Handler: EOI; mark (vector + 1) at VMT_EXC_VEC; out %al, $0x80; hlt
	 */
	for (int pass = 0; pass < 2; pass++) {
		int vec = pass ? 0x64 : 0x52;
		bool level = !pass;
		uint8_t h[] = {
			0xb8, 0xb0, 0x00, 0xe0, 0xfe,			/* mov $0xfee000b0, %eax */
			0xc7, 0x00, 0x00, 0x00, 0x00, 0x00,		/* movl $0, (%rax) */
			0xc7, 0x04, 0x25, 0x00, 0x70, 0x00, 0x00,	/* movl $vec+1, 0x7000 */
			(uint8_t)(vec + 1), 0x00, 0x00, 0x00,
			0xe6, 0x80,					/* out %al, $0x80 */
			0xf4, 0xeb, 0xfd,
		};
		vmt_write(t, HANDLER + 0x100 * (uint64_t)pass, h, sizeof(h));
		set_gate(t, vec, HANDLER + 0x100 * (uint64_t)pass);
		start(t, wait, sizeof(wait), 2);
		msi.data = (uint32_t)vec | (level ? (1u << 15) | (1u << 14) : 0);
		tap_ok(nv_signal_msi(t->vm, &msi) == 1, "%s MSI %#x delivered",
		       level ? "level-triggered" : "edge-triggered", vec);
		if (level) {
			struct kvm_lapic_state l;
			nv_get_lapic(t->v, &l);
			tap_ok(apic_reg(&l, 0x180 + 0x20) & (1u << 18), "TMR bit 0x52 set in the LAPIC");
		}
		/* exits in order until the handler halts, then one flushing run */
		int seq[8], n = 0, eoi_vec = -1;
		for (int k = 0; k < 8 && n < 8; k++) {
			int r = vmt_nv_run(t);
			if (r == -EINTR) {
				seq[n++] = KVM_EXIT_HLT;
				t->run->immediate_exit = 1;
				r = nv_run(t->v);
				t->run->immediate_exit = 0;
				if (r == 0 && t->run->exit_reason == KVM_EXIT_IOAPIC_EOI) {
					seq[n++] = KVM_EXIT_IOAPIC_EOI;
					eoi_vec = t->run->eoi.vector;
				}
				break;
			}
			if (r < 0)
				break;
			seq[n++] = (int)t->run->exit_reason;
			if (t->run->exit_reason == KVM_EXIT_IOAPIC_EOI)
				eoi_vec = t->run->eoi.vector;
			if (t->run->exit_reason == KVM_EXIT_HLT)
				break;
		}
		int neoi = 0, pos_eoi = -1, pos_io = -1;
		for (int k = 0; k < n; k++) {
			if (seq[k] == KVM_EXIT_IOAPIC_EOI) {
				neoi++;
				pos_eoi = k;
			}
			if (seq[k] == KVM_EXIT_IO && pos_io < 0)
				pos_io = k;
		}
		tap_ok(vmt_exception(t) == vec, "the handler for %#x ran (%d)", vec, vmt_exception(t));
		if (!level) {
			tap_ok(neoi == 0, "an edge-triggered vector's EOI: no exit (%d)", neoi);
			continue;
		}
		tap_ok(neoi == 1 && eoi_vec == vec, "one KVM_EXIT_IOAPIC_EOI, vector %#x (%d, %#x)",
		       vec, neoi, eoi_vec);
		if (t->eng == NV_ENGINE_KVM && pos_eoi > pos_io)
			tap_skip("host KVM reports the EOI at its next entry, after %d exit(s) "
				 "(docs/kvm.md K10)", pos_eoi);
		else
			tap_ok(pos_eoi >= 0 && pos_eoi < pos_io,
			       "the EOI exit comes right after the EOI write, before the OUT");
	}
}

static void test_timer(struct vmt *t)
{
	/* one-shot LAPIC timer, vector 0x50, divide by 1, 1000 ticks */
	static const uint8_t code[] = {
		0xbb, 0x00, 0x00, 0xe0, 0xfe,			/* mov $0xfee00000, %ebx */
		0xc7, 0x83, 0xe0, 0x03, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00,	/* TDCR = 0xb */
		0xc7, 0x83, 0x20, 0x03, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00,	/* LVTT = 0x50 */
		0xc7, 0x83, 0x80, 0x03, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00,	/* TMICT = 1000 */
		0xfb, 0xf4, 0xeb, 0xfd,			/* sti; hlt; jmp */
	};
	start(t, code, sizeof(code), 2);
	run_to_halt(t);
	if (vmt_exception(t) != 0x50)
		run_to_halt(t);	/* KVM: the timer may not have fired at the first kick */
	tap_ok(vmt_exception(t) == 0x50, "the LAPIC timer fires vector 0x50 into HLT (%d)",
	       vmt_exception(t));
}

static void test_init_sipi(enum nv_engine eng)
{
	struct vmt t;
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	int err;
	struct nv_vcpu *ap = nv_create_vcpu(t.vm, 1, &err);
	if (!ap) {
		tap_ok(false, "create vCPU 1 (%d)", err);
		vmt_destroy(&t);
		return;
	}
	apic_enable(t.v);
	apic_enable(ap);
	struct kvm_mp_state mp;
	nv_get_mp_state(ap, &mp);
	tap_ok(mp.mp_state == KVM_MP_STATE_UNINITIALIZED, "vCPU 1 waits (UNINITIALIZED)");
	/* AP code at 0x8000, real mode: mov $0x1234, %ax; out %ax, $0x80; hlt */
	static const uint8_t apc[] = { 0xb8, 0x34, 0x12, 0xe7, 0x80, 0xf4 };
	vmt_write(&t, 0x8000, apc, sizeof(apc));
	/* BSP: INIT then SIPI (vector 8) to APIC 1 through the xAPIC ICR */
	static const uint8_t bsp[] = {
		0xbb, 0x00, 0x00, 0xe0, 0xfe,					/* mov $APIC, %ebx */
		0xc7, 0x83, 0x10, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,	/* ICR hi = 1 << 24 */
		0xc7, 0x83, 0x00, 0x03, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00,	/* ICR lo = INIT */
		0xc7, 0x83, 0x00, 0x03, 0x00, 0x00, 0x08, 0x46, 0x00, 0x00,	/* ICR lo = SIPI 8 */
		0xf4,
	};
	start(&t, bsp, sizeof(bsp), 2);
	run_to_halt(&t);
	struct vmt a = t;	/* the AP's view: same memory, its own vCPU */
	a.v = ap;
	a.run = nv_vcpu_run_page(ap);
	int r = vmt_nv_run(&a);
	tap_diag("AP run: %d exit %u", r, a.run->exit_reason);
	uint16_t d = 0;
	memcpy(&d, (uint8_t *)a.run + a.run->io.data_offset, 2);
	tap_ok(r == 0 && a.run->exit_reason == KVM_EXIT_IO && a.run->io.port == 0x80 && d == 0x1234,
	       "after INIT + SIPI the AP runs real-mode code at 0800:0000 (exit %u, port %x, %x)",
	       a.run->exit_reason, a.run->io.port, d);
	struct kvm_sregs s;
	nv_get_sregs(ap, &s);
	tap_ok(s.cs.selector == 0x800 && s.cs.base == 0x8000 && !(s.cr0 & 1),
	       "AP CS = 0800, base 8000, real mode (%x %llx)", s.cs.selector, X(s.cs.base));
	nv_get_mp_state(ap, &mp);
	tap_ok(mp.mp_state == KVM_MP_STATE_RUNNABLE, "AP mp_state RUNNABLE (%u)", mp.mp_state);
	vmt_destroy(&t);
}

static void test_mp_state(enum nv_engine eng)
{
	int err;
	struct nv_vm *vm = nv_create_vm(eng, &err);
	struct nv_vcpu *v0 = vm ? nv_create_vcpu(vm, 0, &err) : NULL;
	struct nv_vcpu *v1 = v0 ? nv_create_vcpu(vm, 1, &err) : NULL;
	if (!v1) {
		tap_ok(false, "two vCPUs");
		if (vm)
			nv_destroy_vm(vm);
		return;
	}
	struct kvm_mp_state mp = { KVM_MP_STATE_HALTED };
	tap_ok(nv_set_mp_state(v0, &mp) == 0, "SET_MP_STATE HALTED");
	nv_get_mp_state(v0, &mp);
	tap_ok(mp.mp_state == KVM_MP_STATE_HALTED, "reads back HALTED");
	mp.mp_state = 99;
	tap_ok(nv_set_mp_state(v0, &mp) == -EINVAL, "SET_MP_STATE 99: -EINVAL");
	mp.mp_state = KVM_MP_STATE_INIT_RECEIVED;
	tap_ok(nv_set_mp_state(v1, &mp) == 0, "AP: SET_MP_STATE INIT_RECEIVED");
	nv_get_mp_state(v1, &mp);
	tap_ok(mp.mp_state == KVM_MP_STATE_INIT_RECEIVED, "reads back INIT_RECEIVED");
	mp.mp_state = KVM_MP_STATE_SIPI_RECEIVED;
	tap_ok(nv_set_mp_state(v1, &mp) == 0, "AP: SET_MP_STATE SIPI_RECEIVED");
	nv_get_mp_state(v1, &mp);
	tap_diag("after SET SIPI_RECEIVED, GET_MP_STATE = %u", mp.mp_state);
	struct kvm_sregs s;
	nv_get_sregs(v1, &s);
	tap_ok(mp.mp_state == KVM_MP_STATE_RUNNABLE && s.cs.selector == 0 && s.cs.base == 0,
	       "the SIPI is taken at once: RUNNABLE at CS 0000 (SIPI vector 0) (%u, %x)",
	       mp.mp_state, s.cs.selector);
	nv_destroy_vm(vm);
}

static void suite(enum nv_engine eng)
{
	struct vmt t;
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	test_lapic_state(&t);
	test_extint(&t);
	test_nmi(&t);
	vmt_destroy(&t);
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	apic_enable(t.v);
	test_msi(&t);
	test_timer(&t);
	vmt_destroy(&t);
	test_init_sipi(eng);
	test_mp_state(eng);
}

int main(void)
{
	vmt_each_engine(suite);
	return tap_done();
}

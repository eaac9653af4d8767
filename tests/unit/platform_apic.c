/*
 * Local APIC messages through the public API (emulator engine): an IPI to
 * a vCPU whose virtual clock is behind the sender's stays in flight until
 * that clock reaches the send time, and is visible and restorable in the
 * private state (version 2); KVM_SIGNAL_MSI counts the APICs that accept;
 * nv_set_private_state refuses impossible APIC / MWAIT / PAUSE states;
 * KVM_GET_LAPIC shows the x2APIC ID in the xAPIC position.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmt.h"

#define MEM (1u << 20)
#define CODE 0x1000

static struct nv_vm *vm;
static struct nv_vcpu *v0, *v1;
static uint8_t *mem;

static uint32_t reg32(const struct kvm_lapic_state *l, unsigned off)
{
	uint32_t v;
	memcpy(&v, l->regs + off, 4);
	return v;
}

static void put32(struct kvm_lapic_state *l, unsigned off, uint32_t v)
{
	memcpy(l->regs + off, &v, 4);
}

static bool irr_bit(struct nv_vcpu *v, int vec)
{
	struct kvm_lapic_state l;
	nv_get_lapic(v, &l);
	return (reg32(&l, 0x200 + (vec / 32) * 0x10) >> (vec % 32)) & 1;
}

static void get_priv(struct nv_vcpu *v, struct nv_private_state *p)
{
	memset(p, 0, sizeof(*p));
	p->version = NV_PRIVATE_STATE_VERSION;
	p->size = sizeof(*p);
	nv_get_private_state(v, p);
}

static void setup(uint32_t icr_lo)
{
	int err;
	vm = nv_create_vm(NV_ENGINE_EMU, &err);
	mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = MEM, .userspace_addr = (uintptr_t)mem,
	};
	nv_set_user_memory_region(vm, &r);
	v0 = nv_create_vcpu(vm, 0, &err);
	v1 = nv_create_vcpu(vm, 1, &err);
	/*
	 * vCPU 0, real mode at 0000:1000: x2APIC on, SPIV enabled, a fixed IPI
	 * with vector 0x40 to APIC ID 1, HLT.
	 */
	static const uint8_t code[] = {
		0x66, 0xb9, 0x1b, 0x00, 0x00, 0x00,		/* mov ecx, 0x1b */
		0x0f, 0x32,					/* rdmsr */
		0x66, 0x0d, 0x00, 0x0c, 0x00, 0x00,		/* or eax, 0xc00 */
		0x0f, 0x30,					/* wrmsr */
		0x66, 0xb9, 0x0f, 0x08, 0x00, 0x00,		/* mov ecx, 0x80f */
		0x66, 0xb8, 0xff, 0x01, 0x00, 0x00,		/* mov eax, 0x1ff */
		0x66, 0x31, 0xd2,				/* xor edx, edx */
		0x0f, 0x30,					/* wrmsr */
		0x66, 0xb9, 0x30, 0x08, 0x00, 0x00,		/* mov ecx, 0x830 */
		0x66, 0xb8, 0x40, 0x00, 0x00, 0x00,		/* mov eax, 0x40 (icr_lo) */
		0x66, 0xba, 0x01, 0x00, 0x00, 0x00,		/* mov edx, 1 */
		0x0f, 0x30,					/* wrmsr: the IPI */
		0xf4,						/* hlt */
	};
	memcpy(mem + CODE, code, sizeof(code));
	memcpy(mem + CODE + 41, &icr_lo, 4);	/* the imm32 of "mov eax" */
	struct kvm_sregs s;
	nv_get_sregs(v0, &s);
	s.cs.selector = 0;
	s.cs.base = 0;
	nv_set_sregs(v0, &s);
	struct kvm_regs rg;
	memset(&rg, 0, sizeof(rg));
	rg.rip = CODE;
	rg.rflags = 2;
	nv_set_regs(v0, &rg);
	/* vCPU 1 accepts fixed interrupts: its APIC software-enabled */
	struct kvm_lapic_state l;
	nv_get_lapic(v1, &l);
	put32(&l, 0xf0, 0x1ff);
	nv_set_lapic(v1, &l);
}

static void test_in_flight(void)
{
	/* vCPU 0 runs to its HLT; vCPU 1 (waiting for INIT) is still at time 0 */
	struct kvm_run *run = nv_vcpu_run_page(v0);
	nv_set_budget_until(v0, 1000);
	int r = nv_run(v0);
	/* in an SMP VM a halted vCPU idles to its budget: -EINTR, halted */
	struct kvm_mp_state mp;
	nv_get_mp_state(v0, &mp);
	tap_ok((r == -EINTR || (r == 0 && run->exit_reason == KVM_EXIT_HLT)) &&
	       mp.mp_state == KVM_MP_STATE_HALTED, "vCPU 0 sent the IPI and halted (r=%d)", r);
	struct nv_private_state p;
	get_priv(v1, &p);
	tap_ok(p.nmsgs == 1 && p.msgs[0].vector == 0x40 && p.msgs[0].delivery == 0,
	       "the IPI is in flight to vCPU 1 (private state: 1 message, vector 0x40)");
	uint64_t at = p.msgs[0].at;
	uint64_t c0;
	nv_get_clock(v0, &c0);
	tap_ok(at > 0 && at < c0, "sent at vCPU 0's virtual time %llu (its clock is now %llu)",
	       (unsigned long long)at, (unsigned long long)c0);
	tap_ok(!irr_bit(v1, 0x40), "not in vCPU 1's IRR yet");
	uint64_t ev;
	nv_next_deadline(v1, &ev);
	tap_ok(ev == at, "vCPU 1's next event is the arrival (%llu)", (unsigned long long)ev);

	/* round trip through set: still in flight */
	struct nv_private_state q = p;
	tap_ok(nv_set_private_state(v1, &q) == 0, "private state with a message in flight restores");
	get_priv(v1, &q);
	tap_ok(q.nmsgs == 1 && q.msgs[0].at == at, "and reads back the same");

	/* vCPU 1 idles up to just before the send time: nothing yet */
	nv_set_budget_until(v1, at - 1);
	nv_run(v1);
	tap_ok(!irr_bit(v1, 0x40), "vCPU 1 at time %llu: not arrived", (unsigned long long)(at - 1));
	nv_set_budget_until(v1, at + 10);
	nv_run(v1);
	tap_ok(irr_bit(v1, 0x40), "vCPU 1 past time %llu: the IPI is in IRR", (unsigned long long)at);
	get_priv(v1, &q);
	tap_ok(q.nmsgs == 0, "nothing in flight any more");
}

static void test_msi_count(void)
{
	struct kvm_msi m = { .address_lo = 0xfee00000u | (1u << 12), .data = 0x41 };
	tap_ok(nv_signal_msi(vm, &m) == 1, "KVM_SIGNAL_MSI to APIC 1: accepted by 1");
	struct kvm_lapic_state l;
	nv_get_lapic(v1, &l);
	put32(&l, 0xf0, 0xff);	/* software-disabled */
	nv_set_lapic(v1, &l);
	tap_ok(nv_signal_msi(vm, &m) == 0, "to a software-disabled APIC: 0");
	m.data = 0x400;		/* NMI */
	tap_ok(nv_signal_msi(vm, &m) == 1, "an NMI is accepted by a software-disabled APIC");
	m.data = 0x200;		/* SMI: no SMM */
	tap_ok(nv_signal_msi(vm, &m) == 0, "an SMI is not accepted (no SMM)");
	m.data = 0x41 | (1u << 15);	/* level-triggered, de-assert */
	put32(&l, 0xf0, 0x1ff);
	nv_set_lapic(v1, &l);
	tap_ok(nv_signal_msi(vm, &m) == 0, "a level de-assert message carries no interrupt");
}

static void test_refusals(void)
{
	struct nv_private_state p;
	get_priv(v1, &p);
	struct nv_private_state q = p;
	q.nmsgs = NV_PRIV_MAX_MSGS + 1;
	tap_ok(nv_set_private_state(v1, &q) == -EINVAL, "more messages than the queue holds: -EINVAL");
	q = p;
	q.nmsgs = 1;
	q.msgs[0] = (struct nv_lapic_msg){ .at = 5, .delivery = 3, .vector = 0x40 };
	tap_ok(nv_set_private_state(v1, &q) == -EINVAL, "delivery mode 3 (remote read): -EINVAL");
	for (int dm = 2; dm <= 7; dm += 5) {
		q.msgs[0].delivery = (uint8_t)dm;
		tap_ok(nv_set_private_state(v1, &q) == -EINVAL,
		       "%s in flight (never queued): -EINVAL", dm == 2 ? "SMI" : "ExtINT");
	}
	q.msgs[0].delivery = 0;
	q.msgs[0].pad = 1;
	tap_ok(nv_set_private_state(v1, &q) == -EINVAL, "non-zero message padding: -EINVAL");
	q.msgs[0].pad = 0;
	q.msgs[0].level = 2;
	tap_ok(nv_set_private_state(v1, &q) == -EINVAL, "level not 0/1: -EINVAL");
	q = p;
	q.msgs[3].vector = 1;	/* beyond nmsgs */
	tap_ok(nv_set_private_state(v1, &q) == -EINVAL, "a message beyond nmsgs: -EINVAL");
	q = p;
	q.esr_pending = 0x01;
	tap_ok(nv_set_private_state(v1, &q) == -EINVAL, "an ESR bit the APIC never sets: -EINVAL");
	q = p;
	q.flags |= NV_PRIV_MWAIT_WAIT;
	q.flags &= ~(uint32_t)NV_PRIV_MWAIT_ARMED;
	tap_ok(nv_set_private_state(v1, &q) == -EINVAL, "MWAIT wait without an armed monitor: -EINVAL");
	q = p;
	q.flags |= NV_PRIV_MWAIT_BREAK;
	tap_ok(nv_set_private_state(v1, &q) == -EINVAL, "MWAIT break flag without a wait: -EINVAL");
	q = p;
	q.esr_pending = 0x40;
	q.pause_until = 12345;
	tap_ok(nv_set_private_state(v1, &q) == 0, "pending ESR bits and a PAUSE delay are accepted");
	get_priv(v1, &q);
	tap_ok(q.esr_pending == 0x40 && q.pause_until == 12345, "and read back");
	q.esr_pending = 0;
	q.pause_until = 0;
	nv_set_private_state(v1, &q);
}

static void test_x2apic_id(void)
{
	struct kvm_lapic_state l;
	nv_get_lapic(v0, &l);	/* vCPU 0 switched itself to x2APIC mode */
	struct kvm_sregs s;
	nv_get_sregs(v0, &s);
	tap_ok((s.apic_base & 0xc00) == 0xc00, "vCPU 0 is in x2APIC mode");
	tap_ok(reg32(&l, 0x20) == 0, "x2APIC ID 0 in the xAPIC position");
	nv_get_lapic(v1, &l);
	tap_ok(reg32(&l, 0x20) == 1u << 24, "vCPU 1 (xAPIC): ID 1 << 24");
}

/*
 * SMI (no SMM here) and ExtINT (only through LINT0) IPIs have no effect on
 * arrival, so nothing stays in flight: a snapshot of the target holds only
 * messages that nv_set_private_state accepts.
 */
static void test_noop_messages(void)
{
	static const uint32_t icr[] = { 0x240, 0x740 };
	for (int k = 0; k < 2; k++) {
		setup(icr[k]);
		nv_set_budget_until(v0, 1000);
		nv_run(v0);
		struct nv_private_state p, q;
		get_priv(v1, &p);
		tap_ok(p.nmsgs == 0, "%s IPI: nothing in flight to vCPU 1 (%u)",
		       k ? "ExtINT" : "SMI", p.nmsgs);
		q = p;
		tap_ok(nv_set_private_state(v1, &q) == 0, "%s IPI: vCPU 1's private state restores",
		       k ? "ExtINT" : "SMI");
		nv_destroy_vm(vm);
		munmap(mem, MEM);
	}
}

int main(void)
{
	test_noop_messages();
	setup(0x40);
	test_in_flight();
	test_msi_count();
	test_refusals();
	test_x2apic_id();
	nv_destroy_vm(vm);
	munmap(mem, MEM);
	return tap_done();
}

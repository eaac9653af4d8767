/*
 * API suite: KVM_GET/SET_VCPU_EVENTS (spec §6.2-6.5, T15-T21) and
 * KVM_GET/SET_NESTED_STATE without nested virtualization, on the emulator
 * and on /dev/kvm.  Events set through the API are run to show what the
 * guest then sees (vector, error code, CR2 / DR6 from the payload).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmt.h"

#define X(v) ((unsigned long long)(v))

#define VALID_BASE (KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW | \
		    KVM_VCPUEVENT_VALID_SMM)

static int enable(struct vmt *t, uint32_t cap)
{
	struct kvm_enable_cap c = { .cap = cap, .args = { 1 } };
	return nv_enable_cap(t->vm, &c);
}

/* code at VMT_CODE: nop; hlt — the run shows which event the guest got */
static int run_nop(struct vmt *t, struct kvm_regs *r)
{
	static const uint8_t code[] = { 0x90, 0xf4 };
	vmt_write(t, VMT_CODE, code, sizeof(code));
	uint32_t zero = 0;
	vmt_write(t, VMT_EXC_VEC, &zero, 4);
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	nv_set_mp_state(t->v, &mp);
	int why;
	do {
		int ret = vmt_nv_run(t);
		why = t->run->exit_reason;
		if (ret == -EINTR) {
			why = KVM_EXIT_HLT;	/* halted in KVM's in-kernel LAPIC */
			break;
		}
	} while (why == KVM_EXIT_IO);
	nv_get_regs(t->v, r);
	return why;
}

static void set_rip(struct vmt *t)
{
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	r.rip = VMT_CODE;
	r.rsp = VMT_STACK;
	r.rflags = 2;
	nv_set_regs(t->v, &r);
}

static void test_flags(enum nv_engine eng)
{
	struct vmt t;
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	struct kvm_vcpu_events ev;
	tap_ok(nv_get_vcpu_events(t.v, &ev) == 0 && ev.flags == VALID_BASE,
	       "GET flags = NMI_PENDING | SHADOW | SMM without capabilities (%x)", ev.flags);
	struct kvm_vcpu_events e = ev;
	e.flags = 0x80;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL, "SET with unknown flag 0x80: -EINVAL");
	e.flags = KVM_VCPUEVENT_VALID_NESTED_FLAG;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL,
	       "SET with the nested flag 0x40, capability not enabled: -EINVAL");
	e.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL,
	       "SET with PAYLOAD, KVM_CAP_EXCEPTION_PAYLOAD not enabled: -EINVAL");
	e.flags = KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL,
	       "SET with TRIPLE_FAULT, KVM_CAP_X86_TRIPLE_FAULT_EVENT not enabled: -EINVAL");
	e = ev;
	e.exception.injected = 1;
	e.exception.nr = 32;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL, "injected exception vector 32: -EINVAL");
	e.exception.nr = 2;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL, "injected exception vector 2 (NMI): -EINVAL");
	e.exception.injected = 0;
	e.exception.nr = 40;
	tap_ok(nv_set_vcpu_events(t.v, &e) == 0, "vector 40 neither injected nor pending: accepted");
	nv_get_vcpu_events(t.v, &e);
	tap_ok(!e.exception.injected && !e.exception.pending, "and nothing is queued");
	e = ev;
	e.flags = KVM_VCPUEVENT_VALID_SMM;
	e.smi.smm = 1;
	bool smm = nv_check_extension(t.vm, KVM_CAP_X86_SMM) > 0;
	tap_ok(nv_set_vcpu_events(t.v, &e) == (smm ? 0 : -EINVAL), "smi.smm = 1: %s",
	       smm ? "accepted (SMM)" : "-EINVAL (no SMM)");
	e.smi.smm = 0;
	e.smi.pending = 1;
	tap_ok(nv_set_vcpu_events(t.v, &e) == (smm ? 0 : -EINVAL), "smi.pending = 1: %s",
	       smm ? "accepted (SMM)" : "-EINVAL (no SMM)");
	e.smi.pending = 0;
	tap_ok(nv_set_vcpu_events(t.v, &e) == 0, "VALID_SMM with every smi field 0: accepted");

	tap_ok(enable(&t, KVM_CAP_EXCEPTION_PAYLOAD) == 0, "enable KVM_CAP_EXCEPTION_PAYLOAD");
	nv_get_vcpu_events(t.v, &ev);
	tap_ok(ev.flags == (VALID_BASE | KVM_VCPUEVENT_VALID_PAYLOAD), "GET adds PAYLOAD (%x)",
	       ev.flags);
	e = ev;
	e.exception.pending = 1;
	e.exception.nr = 2;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL, "pending exception vector 2: -EINVAL");
	e.exception.nr = 33;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL, "pending exception vector 33: -EINVAL");
	if (nv_check_extension(t.vm, KVM_CAP_X86_TRIPLE_FAULT_EVENT) > 0) {
		tap_ok(enable(&t, KVM_CAP_X86_TRIPLE_FAULT_EVENT) == 0,
		       "enable KVM_CAP_X86_TRIPLE_FAULT_EVENT");
		nv_get_vcpu_events(t.v, &ev);
		tap_ok(ev.flags == (VALID_BASE | KVM_VCPUEVENT_VALID_PAYLOAD |
				    KVM_VCPUEVENT_VALID_TRIPLE_FAULT) && !ev.triple_fault.pending,
		       "GET adds TRIPLE_FAULT, not pending (%x)", ev.flags);
	} else {
		tap_skip("KVM_CAP_X86_TRIPLE_FAULT_EVENT absent");
	}
	/* NMI pending count, shadow */
	e = ev;
	e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
	e.exception.pending = 0;
	e.nmi.pending = 5;
	e.nmi.masked = 0;
	e.interrupt.shadow = KVM_X86_SHADOW_INT_STI;
	tap_ok(nv_set_vcpu_events(t.v, &e) == 0, "SET nmi.pending = 5, STI shadow");
	nv_get_vcpu_events(t.v, &ev);
	tap_ok(ev.nmi.pending == 2, "nmi.pending reads back 2 (at most 2 latched) (%u)", ev.nmi.pending);
	tap_ok(ev.interrupt.shadow == KVM_X86_SHADOW_INT_STI, "the STI shadow reads back (%u)",
	       ev.interrupt.shadow);
	e.nmi.pending = 5;
	e.nmi.masked = 1;
	nv_set_vcpu_events(t.v, &e);
	nv_get_vcpu_events(t.v, &ev);
	tap_ok(ev.nmi.pending == 1 && ev.nmi.masked == 1,
	       "with NMIs masked at most 1 stays pending (%u, masked %u)", ev.nmi.pending,
	       ev.nmi.masked);
	vmt_destroy(&t);
}

/* spec T17, T18, T19 and delivery of events set through the API */
static void test_queue(enum nv_engine eng)
{
	struct vmt t;
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	enable(&t, KVM_CAP_EXCEPTION_PAYLOAD);
	struct kvm_vcpu_events ev, e;
	struct kvm_regs r;
	nv_get_vcpu_events(t.v, &ev);

	/* T17: pending wins over injected */
	e = ev;
	e.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	e.exception.pending = 1;
	e.exception.injected = 1;
	e.exception.nr = 13;
	e.exception.has_error_code = 1;
	e.exception.error_code = 0;
	tap_ok(nv_set_vcpu_events(t.v, &e) == 0, "SET #GP(0) pending and injected");
	nv_get_vcpu_events(t.v, &ev);
	tap_ok(ev.exception.pending == 1 && ev.exception.injected == 0 && ev.exception.nr == 13,
	       "T17: GET reports pending only (pending %u injected %u)", ev.exception.pending,
	       ev.exception.injected);

	/* T18: SET_REGS drops a pending exception, keeps an injected one */
	set_rip(&t);
	nv_get_vcpu_events(t.v, &ev);
	tap_ok(!ev.exception.pending && !ev.exception.injected, "T18: SET_REGS drops the pending #GP");
	e.exception.pending = 0;
	e.exception.injected = 1;
	nv_set_vcpu_events(t.v, &e);
	set_rip(&t);
	nv_get_vcpu_events(t.v, &ev);
	tap_ok(ev.exception.injected && ev.exception.nr == 13, "T18: an injected #GP survives SET_REGS");
	int why = run_nop(&t, &r);
	tap_ok(vmt_exception(&t) == 13 && vmt_exc_errcode(&t, &r) == 0 &&
	       vmt_exc_rip(&t, &r) == VMT_CODE,
	       "the injected #GP(0) is delivered at the NOP (exit %d, vector %d)", why,
	       vmt_exception(&t));

	/* a pending #PF with payload: CR2 is written at delivery, not before */
	set_rip(&t);
	struct kvm_sregs s;
	nv_get_sregs(t.v, &s);
	s.cr2 = 0x1111000;
	nv_set_sregs(t.v, &s);
	e = ev;
	e.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	memset(&e.exception, 0, sizeof(e.exception));
	e.exception.pending = 1;
	e.exception.nr = 14;
	e.exception.has_error_code = 1;
	e.exception.error_code = 2;
	e.exception_has_payload = 1;
	e.exception_payload = 0xdead000;
	tap_ok(nv_set_vcpu_events(t.v, &e) == 0, "SET pending #PF(2) with payload CR2 = dead000");
	nv_get_vcpu_events(t.v, &ev);
	nv_get_sregs(t.v, &s);
	tap_ok(ev.exception.pending && ev.exception_has_payload &&
	       ev.exception_payload == 0xdead000 && s.cr2 == 0x1111000,
	       "GET: still pending with its payload, CR2 unwritten (%llx)", X(s.cr2));
	why = run_nop(&t, &r);
	nv_get_sregs(t.v, &s);
	tap_ok(vmt_exception(&t) == 14 && vmt_exc_errcode(&t, &r) == 2 && s.cr2 == 0xdead000,
	       "delivered: #PF, error code 2, CR2 = payload (vector %d, cr2 %llx)",
	       vmt_exception(&t), X(s.cr2));

	/* a pending #DB with payload: DR6 gets the bits at delivery */
	set_rip(&t);
	e.exception.nr = 1;
	e.exception.has_error_code = 0;
	e.exception.error_code = 0;
	e.exception_payload = 0x4002;	/* BS | B1 */
	nv_set_vcpu_events(t.v, &e);
	struct kvm_debugregs d;
	nv_get_debugregs(t.v, &d);
	tap_ok(d.dr6 == 0xffff0ff0ULL, "pending #DB: DR6 not yet written (%llx)", X(d.dr6));
	run_nop(&t, &r);
	nv_get_debugregs(t.v, &d);
	tap_ok(vmt_exception(&t) == 1 && (d.dr6 & 0x4003) == 0x4002,
	       "delivered: #DB with DR6.BS and DR6.B1 (vector %d, dr6 %llx)", vmt_exception(&t),
	       X(d.dr6));

	/* T19: an injected #BP is not reported */
	set_rip(&t);
	e.flags = 0;
	memset(&e.exception, 0, sizeof(e.exception));
	e.exception.injected = 1;
	e.exception.nr = 3;
	tap_ok(nv_set_vcpu_events(t.v, &e) == 0, "SET injected #BP");
	nv_get_vcpu_events(t.v, &ev);
	tap_ok(!ev.exception.injected && !ev.exception.pending,
	       "T19: GET does not report a soft exception (injected %u, nr %u)",
	       ev.exception.injected, ev.exception.nr);

	/* an injected NMI and an injected external interrupt */
	set_rip(&t);
	e = ev;
	e.flags = 0;
	memset(&e.exception, 0, sizeof(e.exception));
	e.nmi.injected = 1;
	nv_set_vcpu_events(t.v, &e);
	run_nop(&t, &r);
	nv_get_vcpu_events(t.v, &ev);
	tap_ok(vmt_exception(&t) == 2 && ev.nmi.masked,
	       "an injected NMI is delivered through vector 2, NMIs masked after (%d, %u)",
	       vmt_exception(&t), ev.nmi.masked);
	set_rip(&t);
	e = ev;
	e.nmi.injected = 0;
	e.interrupt.injected = 1;
	e.interrupt.nr = 0x55;
	nv_set_vcpu_events(t.v, &e);
	run_nop(&t, &r);
	tap_ok(vmt_exception(&t) == 0x55, "an injected interrupt 0x55 is delivered (IF = 0) (%d)",
	       vmt_exception(&t));
	vmt_destroy(&t);
}

static void test_legacy_payload(enum nv_engine eng)
{
	/* without the payload capability a pending exception reads as injected */
	struct vmt t;
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	struct kvm_vcpu_events e, ev;
	nv_get_vcpu_events(t.v, &e);
	e.exception.injected = 1;
	e.exception.nr = 14;
	e.exception.has_error_code = 1;
	e.exception.error_code = 4;
	tap_ok(nv_set_vcpu_events(t.v, &e) == 0, "no payload capability: SET injected #PF(4)");
	nv_get_vcpu_events(t.v, &ev);
	tap_ok(ev.exception.injected && ev.exception.nr == 14 && ev.exception.error_code == 4 &&
	       !ev.exception.pending && !ev.exception_has_payload,
	       "it reads back unchanged, without payload fields");
	vmt_destroy(&t);
}

static void test_triple_fault(enum nv_engine eng)
{
	struct vmt t;
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	if (nv_check_extension(t.vm, KVM_CAP_X86_TRIPLE_FAULT_EVENT) <= 0) {
		tap_skip("KVM_CAP_X86_TRIPLE_FAULT_EVENT absent");
		vmt_destroy(&t);
		return;
	}
	enable(&t, KVM_CAP_X86_TRIPLE_FAULT_EVENT);
	set_rip(&t);
	struct kvm_vcpu_events e;
	nv_get_vcpu_events(t.v, &e);
	e.flags = KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
	e.triple_fault.pending = 1;
	tap_ok(nv_set_vcpu_events(t.v, &e) == 0, "T20: SET triple_fault.pending = 1");
	nv_get_vcpu_events(t.v, &e);
	tap_ok(e.triple_fault.pending == 1, "it reads back pending");
	int r = vmt_nv_run(&t);
	tap_ok(r == 0 && t.run->exit_reason == KVM_EXIT_SHUTDOWN,
	       "T20: the next KVM_RUN exits with KVM_EXIT_SHUTDOWN (%d, exit %u)", r,
	       t.run->exit_reason);
	vmt_destroy(&t);
}

static void test_smm_init(enum nv_engine eng)
{
	/* T21: an SMI with the vCPU in INIT_RECEIVED */
	int err;
	struct nv_vm *vm = nv_create_vm(eng, &err);
	struct nv_vcpu *v0 = vm ? nv_create_vcpu(vm, 0, &err) : NULL;
	struct nv_vcpu *v1 = v0 ? nv_create_vcpu(vm, 1, &err) : NULL;
	if (!v1) {
		tap_ok(false, "create two vCPUs");
		if (vm)
			nv_destroy_vm(vm);
		return;
	}
	struct kvm_mp_state mp = { KVM_MP_STATE_INIT_RECEIVED };
	tap_ok(nv_set_mp_state(v1, &mp) == 0, "AP mp_state = INIT_RECEIVED");
	struct kvm_vcpu_events e;
	nv_get_vcpu_events(v1, &e);
	e.flags = KVM_VCPUEVENT_VALID_SMM;
	e.smi.pending = 1;
	tap_ok(nv_set_vcpu_events(v1, &e) == -EINVAL, "T21: SMI pending in INIT_RECEIVED: -EINVAL");
	nv_destroy_vm(vm);
}

static void test_nested_state(enum nv_engine eng)
{
	struct vmt t;
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	int cap = nv_check_extension(t.vm, KVM_CAP_NESTED_STATE);
	tap_diag("KVM_CAP_NESTED_STATE = %d", cap);
	struct kvm_nested_state *ns = calloc(1, 8192 + 128);
	ns->size = 8192 + 128;
	int r = nv_get_nested_state(t.v, ns);
	if (cap == 0) {
		tap_ok(r == -EINVAL, "GET_NESTED_STATE without nested support: -EINVAL (%d)", r);
		memset(ns, 0, 128);
		ns->size = 128;
		r = nv_set_nested_state(t.v, ns);
		tap_ok(r == -EINVAL, "SET_NESTED_STATE without nested support: -EINVAL (%d)", r);
	} else {
		tap_ok(r == 0 && ns->size <= (uint32_t)cap, "GET_NESTED_STATE fits the capability size");
	}
	free(ns);
	vmt_destroy(&t);
}

static void suite(enum nv_engine eng)
{
	test_flags(eng);
	test_queue(eng);
	test_legacy_payload(eng);
	test_triple_fault(eng);
	test_smm_init(eng);
	test_nested_state(eng);
}

int main(void)
{
	vmt_each_engine(suite);
	return tap_done();
}
